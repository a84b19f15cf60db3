"""Running the Alembic migrations from code (the CLI and ``serve`` call these)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: sa.Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the latest by default)."""
    command.upgrade(alembic_config(engine), revision)


@cache
def _scripts() -> ScriptDirectory:
    # read once per process: the migrations shipped with this version do not change
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str | None:
    return _scripts().get_current_head()


@dataclass(frozen=True)
class Migration:
    revision: str
    summary: str  # the first line of its docstring


def history() -> list[Migration]:
    """This version's migrations, newest first."""
    return [
        Migration(s.revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
        for s in _scripts().walk_revisions()
    ]


def is_known(revision: str) -> bool:
    """Whether ``revision`` is one of this version's migrations (an unknown one was
    written by a newer ringcast)."""
    return any(m.revision == revision for m in history())


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: sa.Engine) -> bool:
    return current_revision(engine) == head_revision()
