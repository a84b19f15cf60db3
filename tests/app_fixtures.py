"""The app over a fresh database (SQLite, and PostgreSQL when marked), on a virtual clock:
the fixtures of the API's and the dashboard's in-process tests, imported by their conftests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.runtime import Runtime, open_runtime
from tests.conftest import migrated_sqlite_copy

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # Monday 08:00 in Paris


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        template = request.getfixturevalue("migrated_sqlite_file")
        url = migrated_sqlite_copy(template, tmp_path / "rc.db")
        rt = open_runtime(Settings(database_url=url, data_dir=str(tmp_path / "data")))
    else:
        url = request.getfixturevalue("pg_engine_url")
        engine = make_engine(url)
        upgrade(engine)
        rt = Runtime(
            Settings(database_url=url, data_dir=str(tmp_path / "data")), engine, SqlStore(engine)
        )
    yield rt
    rt.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def app(runtime: Runtime, clock: VirtualClock) -> FastAPI:
    return create_app(runtime, clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
