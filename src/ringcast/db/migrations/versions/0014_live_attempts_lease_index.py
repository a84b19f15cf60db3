"""the lease index holds only the attempts in a call

* ``ix_attempts_live_lease``: ``attempts (lease_expires_at)`` for the attempts still
  dialling, in place of ``attempts (state, lease_expires_at)``. The reconciler (every
  dispatch pass) asks only for dialling attempts whose lease ran out, and ``/metrics``
  counts the dialling ones; ended attempts, nearly every row of the table, had an entry
  each. Partial, so a call's end (an update that moves its attempt out of ``dialing``)
  adds no entry to it: one index fewer to write per attempt ended, and an index the size
  of the calls in progress rather than of every call ever placed.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_attempts_live_lease",
        "attempts",
        ["lease_expires_at"],
        postgresql_where=sa.text("state = 'dialing'"),
        sqlite_where=sa.text("state = 'dialing'"),
    )
    op.drop_index("ix_attempts_state_lease_expires_at", table_name="attempts")


def downgrade() -> None:
    op.create_index("ix_attempts_state_lease_expires_at", "attempts", ["state", "lease_expires_at"])
    op.drop_index("ix_attempts_live_lease", table_name="attempts")
