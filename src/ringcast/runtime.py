"""Opening the configured store: the composition root the CLI and the server share.

Everything that touches the database driver is built here, once per process, and handed
down: the API sees the store only through ``ports.SqlStoreApi`` (see ``api.deps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

import ringcast
from ringcast.config import Settings
from ringcast.crypto import SecretKeyError, box_for_database
from ringcast.db.engine import make_engine
from ringcast.db.migrate import current_revision, head_revision, is_known, upgrade
from ringcast.db.store import SqlStore


class CannotOpen(RuntimeError):
    """The configured database cannot be opened until the operator fixes something; the
    message, one line, says what."""


class SchemaOutOfDate(CannotOpen):
    """The PostgreSQL database has not been migrated to this version of ringcast."""


class SchemaTooNew(CannotOpen):
    """The database was migrated by a newer ringcast, to a revision this version does not
    know: running against it could misread or damage what the newer one wrote."""


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

    def unready_reason(self) -> str | None:
        """Why this process should not be sent requests now (``/readyz``), or None: the
        database does not answer, or is not at this version's head (someone migrated it
        since this process started, or it is behind)."""
        try:
            found = self.schema_revision()
        except sa.exc.SQLAlchemyError:
            return "database unreachable"
        if found != head_revision():
            return f"database at revision {found}, this ringcast needs {head_revision()}"
        return None

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands against this version's migrations."""

    revision: str | None  # None: no migration has run
    head: str | None

    @property
    def is_head(self) -> bool:
        return self.revision == self.head

    @property
    def is_newer(self) -> bool:
        """Migrated by a newer ringcast: a revision this version does not know."""
        return self.revision is not None and not is_known(self.revision)


def schema_status(settings: Settings) -> SchemaStatus:
    """The configured database's revision, read without opening the store (no secret key
    needed, nothing migrated; a missing SQLite file is not created)."""
    url = sa.engine.make_url(settings.database_url)
    if settings.is_sqlite and url.database and not Path(url.database).exists():
        return SchemaStatus(None, head_revision())
    engine = make_engine(settings.database_url)
    try:
        return SchemaStatus(current_revision(engine), head_revision())
    except sa.exc.OperationalError as exc:
        raise unreachable(exc) from None
    finally:
        engine.dispose()


def unreachable(exc: sa.exc.OperationalError) -> CannotOpen:
    """The driver's complaint about a database that does not answer, on one line."""
    return CannotOpen("cannot reach the database: " + " ".join(str(exc.orig).split()))


def _refuse_newer(engine: sa.Engine) -> None:
    found = current_revision(engine)
    if found is not None and not is_known(found):
        raise SchemaTooNew(
            f"database is at revision {found}, which this ringcast ({ringcast.__version__}, "
            f"newest revision {head_revision()}) does not know: a newer ringcast migrated it; "
            "run that version instead"
        )


def open_runtime(settings: Settings, *, upgrade_schema: bool = False) -> Runtime:
    """Connect to the configured database.

    The embedded SQLite database is created or upgraded on the spot, so that a fresh
    machine needs no setup step. A PostgreSQL database is shared by many processes and
    is upgraded on purpose, with ``ringcast db upgrade`` (``upgrade_schema``); until then
    opening it raises ``SchemaOutOfDate``.

    Stored secrets are sealed with ``RINGCAST_SECRET_KEY`` (``ringcast.crypto``): without
    it, a SQLite database gets a key file beside it and PostgreSQL refuses to open; a key
    that does not open what is stored refuses too (``SecretKeyUnusable``).

    A database a newer ringcast migrated is never opened, upgraded or not (``SchemaTooNew``).
    """
    engine = make_engine(settings.database_url)
    if settings.is_sqlite and engine.url.database not in (None, "", ":memory:"):
        # the default database lives in a directory of its own (``config.data_home``)
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            secrets = box_for_database(
                settings.secret_key, engine.url.get_backend_name(), engine.url.database
            )
        except SecretKeyError as exc:
            raise SecretKeyUnusable(str(exc)) from None
        _refuse_newer(engine)  # before anything, an upgrade included, touches it
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
