"""The probes an orchestrator polls: ``/healthz`` (alive) and ``/readyz`` (send traffic)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

import ringcast
from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.crypto import SecretBox, new_key
from ringcast.db.engine import make_engine
from ringcast.db.migrate import head_revision, history
from ringcast.db.store import SqlStore
from ringcast.runtime import Runtime


def _stamp(runtime: Runtime, revision: str) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_readyz_is_200_on_a_database_at_this_versions_head(client: TestClient) -> None:
    """A reachable database at the head: ready, without any credential."""
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "version": ringcast.__version__}


def test_readyz_is_503_with_the_reason_when_the_schema_is_not_the_head(
    client: TestClient, runtime: Runtime
) -> None:
    """Migrated past this version (or behind it) after the process started: 503 naming
    both revisions, while /healthz still says the process is alive."""
    for revision in ("9999_newer", history()[1].revision):
        _stamp(runtime, revision)
        r = client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable"
        assert revision in body["reason"] and str(head_revision()) in body["reason"]
        assert client.get("/healthz").status_code == 200
    _stamp(runtime, str(head_revision()))
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_does_not_answer(
    clock: VirtualClock,
) -> None:
    """A database that cannot be reached: 503 'database unreachable'; liveness is not
    about the database, so /healthz stays 200."""
    url = "postgresql+psycopg://ringcast@127.0.0.1:1/nothing-listens-here"
    engine = make_engine(url)
    runtime = Runtime(Settings(database_url=url), engine, SqlStore(engine, SecretBox([new_key()])))
    try:
        with TestClient(create_app(runtime, clock)) as client:
            r = client.get("/readyz")
            assert r.status_code == 503
            assert r.json() == {"status": "unavailable", "reason": "database unreachable"}
            assert client.get("/healthz").status_code == 200
    finally:
        runtime.close()
