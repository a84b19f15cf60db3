"""Opening the configured store: the composition root the CLI and the server share."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ringcast.config import Settings
from ringcast.db.engine import make_engine
from ringcast.db.migrate import current_revision, head_revision, upgrade
from ringcast.db.store import SqlStore


class SchemaOutOfDate(RuntimeError):
    """The PostgreSQL database has not been migrated to this version of ringcast."""


@dataclass
class Runtime:
    settings: Settings
    engine: sa.Engine
    store: SqlStore

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings) -> Runtime:
    """Connect to the configured database.

    The embedded SQLite database is created or upgraded on the spot, so that a fresh
    machine needs no setup step. A PostgreSQL database is shared by many processes and
    is upgraded on purpose, with ``ringcast db upgrade``.
    """
    engine = make_engine(settings.database_url)
    if settings.is_sqlite:
        upgrade(engine)
    elif (found := current_revision(engine)) != head_revision():
        engine.dispose()
        raise SchemaOutOfDate(
            f"database is at revision {found}, this ringcast needs {head_revision()}: "
            "run `ringcast db upgrade`"
        )
    return Runtime(settings, engine, SqlStore(engine))
