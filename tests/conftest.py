"""Shared test setup: a clean environment, a reproducible Hypothesis profile, and stores.

Stores: in memory, SQLite in a fresh file, PostgreSQL in a fresh schema. PostgreSQL is
the real server at 127.0.0.1:5432 (or ``PG_TEST_URL``). Outside CI a missing server skips
those tests; under CI (``CI`` set) it fails them, so they are never skipped silently there.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from ringcast.crypto import SECRET_KEY_ENV
from ringcast.db.engine import make_engine
from ringcast.db.memory import MemoryStore
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore

# Tests build their Settings explicitly; a developer's RINGCAST_* variables must not leak in.
for _name in [n for n in os.environ if n.startswith("RINGCAST_")]:
    del os.environ[_name]

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PG_URL = os.environ.get("PG_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: the PostgreSQL tests' secret key (a fixed one: a test's processes must share it)
PG_SECRET_KEY = "f3uJ3kP1n2o4p5q6r7s8t9u0v1w2x3y4z5A6B7C8D9E="


def _pg_reachable() -> str | None:
    probe = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3}, poolclass=sa.NullPool)
    try:
        with probe.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # any failure to connect means "not here"
        return str(exc).splitlines()[0]
    finally:
        probe.dispose()
    return None


@pytest.fixture(scope="session")
def pg_available() -> None:
    problem = _pg_reachable()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI and is unreachable: {problem}")
    pytest.skip(f"PostgreSQL unreachable: {problem}")


@pytest.fixture
def pg_schema(pg_available: None) -> Iterator[str]:
    """A brand-new, empty PostgreSQL schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def pg_engine_url(pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A database URL whose connections work inside a fresh, empty schema, and the secret
    key every process on it must hold (PostgreSQL refuses to open without one), set for
    the stores this test builds."""
    monkeypatch.setenv(SECRET_KEY_ENV, PG_SECRET_KEY)
    return f"{PG_URL}?options=-csearch_path%3D{pg_schema}"


@pytest.fixture
def pg_engine(pg_engine_url: str) -> Iterator[sa.Engine]:
    """A migrated engine in a fresh schema."""
    engine = make_engine(pg_engine_url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the migrations brought to head, once per test process: each test
    gets a copy of it (the same bytes the migrations would write, in a few milliseconds
    instead of the migrations' 0.13 s, which some 400 tests paid)."""
    path = tmp_path_factory.mktemp("migrated") / "ringcast.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection's close folds the write-ahead log into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def migrated_sqlite_copy(template: Path, path: Path) -> str:
    """A fresh migrated SQLite database at ``path`` (a copy of ``template``), as a URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_engine(tmp_path: Path, migrated_sqlite_file: Path) -> Iterator[sa.Engine]:
    """A migrated engine on a fresh SQLite file."""
    engine = make_engine(migrated_sqlite_copy(migrated_sqlite_file, tmp_path / "ringcast.db"))
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest):
    """Each contract test runs once per store."""
    if request.param == "memory":
        return MemoryStore()
    engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    return SqlStore(engine)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    """A migrated engine on each SQL backend."""
    return request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
