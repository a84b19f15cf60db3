"""Opening the configured store: the composition root the CLI and the server share.

Everything that touches the database driver is built here, once per process, and handed
down: the API sees the store only through ``ports.SqlStoreApi`` (see ``api.deps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ringcast.config import Settings
from ringcast.crypto import SecretKeyError, box_for_database
from ringcast.db.engine import make_engine
from ringcast.db.migrate import current_revision, head_revision, upgrade
from ringcast.db.store import SqlStore


class CannotOpen(RuntimeError):
    """The configured database cannot be opened until the operator fixes something; the
    message, one line, says what."""


class SchemaOutOfDate(CannotOpen):
    """The PostgreSQL database has not been migrated to this version of ringcast."""


class SecretKeyUnusable(CannotOpen):
    """``RINGCAST_SECRET_KEY`` is missing where it is required, malformed, or does not
    open the secrets stored in the database (``ringcast.crypto``)."""


@dataclass
class Runtime:
    settings: Settings
    engine: sa.Engine
    store: SqlStore

    def schema_revision(self) -> str | None:
        """The migration the database is at (None before the first one)."""
        return current_revision(self.engine)

    def ping(self) -> None:
        """Ask the database a trivial question; raises if it does not answer."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings, *, upgrade_schema: bool = False) -> Runtime:
    """Connect to the configured database.

    The embedded SQLite database is created or upgraded on the spot, so that a fresh
    machine needs no setup step. A PostgreSQL database is shared by many processes and
    is upgraded on purpose, with ``ringcast db upgrade`` (``upgrade_schema``); until then
    opening it raises ``SchemaOutOfDate``.

    Stored secrets are sealed with ``RINGCAST_SECRET_KEY`` (``ringcast.crypto``): without
    it, a SQLite database gets a key file beside it and PostgreSQL refuses to open; a key
    that does not open what is stored refuses too (``SecretKeyUnusable``).
    """
    engine = make_engine(settings.database_url)
    try:
        try:
            secrets = box_for_database(
                settings.secret_key, engine.url.get_backend_name(), engine.url.database
            )
        except SecretKeyError as exc:
            raise SecretKeyUnusable(str(exc)) from None
        if settings.is_sqlite or upgrade_schema:
            upgrade(engine)
        elif (found := current_revision(engine)) != head_revision():
            raise SchemaOutOfDate(
                f"database is at revision {found}, this ringcast needs {head_revision()}: "
                "run `ringcast db upgrade`"
            )
        store = SqlStore(engine, secrets)
        try:
            store.check_secret_key()
        except SecretKeyError as exc:
            raise SecretKeyUnusable(str(exc)) from None
    except BaseException:
        engine.dispose()  # a runtime that failed to open leaves no pool behind
        raise
    return Runtime(settings, engine, store)
