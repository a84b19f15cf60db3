"""The SQL store: ``ports.SqlStoreApi`` for SQLite and PostgreSQL, in one class.

``SqlStore`` is assembled from the parts in ``db/sql/``, one job each (listed in
``db/sql/__init__.py``), as mixins over ``SqlBase``, which holds the engine and the
transaction. Why mixins rather than a facade delegating to each part: the ports are
Protocols matched by method, so one object must carry every method; a facade would
repeat each of its sixty-odd signatures once more, while mixins keep each method where
its job is written. The parts share no state but the engine, and call each other only
through module functions that take the transaction's connection (``outbox.queue``,
``compliance.phone_facts``...), never through ``self``: a part can be read alone.

Each method is one short transaction. Rows become values in ``db/mapping.py`` and
nowhere else; what to write is decided by the core (``core.step``, ``core.contacts``,
``core.compliance``, ``core.states``) and by ``webhooks.outbox`` for deliveries. The two
transactions the dispatcher lives on, with their lock order, are ``sql/planning.py`` and
``sql/ends.py``. Secrets are stored sealed (``ringcast.crypto``, ``sql/sealing.py``).
"""

from __future__ import annotations

from ringcast.db.sql.accounts import AccountsSql
from ringcast.db.sql.calls import CallsSql
from ringcast.db.sql.campaigns import CampaignsSql
from ringcast.db.sql.cohorts import CohortJobsSql
from ringcast.db.sql.compliance import ComplianceSql
from ringcast.db.sql.connections import ConnectionsSql
from ringcast.db.sql.dashboard import DashboardSql
from ringcast.db.sql.ends import EndsSql
from ringcast.db.sql.exports import ExportsSql
from ringcast.db.sql.outbox import OutboxSql
from ringcast.db.sql.planning import PlanningSql
from ringcast.db.sql.ratelimits import RateLimitsSql
from ringcast.db.sql.sealing import SealingSql

__all__ = ["SqlStore"]


class SqlStore(
    AccountsSql,
    CampaignsSql,
    CohortJobsSql,
    ComplianceSql,
    ConnectionsSql,
    PlanningSql,
    EndsSql,
    OutboxSql,
    CallsSql,
    DashboardSql,
    ExportsSql,
    SealingSql,
    RateLimitsSql,
):
    """Every store operation on one SQLAlchemy engine (SQLite or PostgreSQL)."""
