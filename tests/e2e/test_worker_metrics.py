"""``ringcast worker --metrics-port``: a real worker process serves ``/metrics`` (behind
the metrics token) and ``/healthz`` on its own port while it dials."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from ringcast.api.observe import probe_app
from ringcast.clock import SystemClock
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.metrics import Metrics
from tests.support import always_open_campaign, free_port, worker_env

TOKEN = "w0rker-metr1cs-t0ken"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database on each backend, with a campaign of three due contacts."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rc.db'}"
    else:
        url = request.getfixturevalue("pg_engine_url")
    engine = make_engine(url)
    try:
        upgrade(engine)
        phones = ["+33612345601", "+33612345602", "+33612345603"]
        always_open_campaign(SqlStore(engine), SystemClock(), phones)
    finally:
        engine.dispose()
    return url


def metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_worker_serves_metrics_and_health_on_its_port(database_url: str) -> None:
    """The worker answers /healthz 200 while its loop goes round, /metrics only with the
    token, and its counters show the calls it placed; SIGTERM stops it cleanly."""
    port = free_port()
    env = worker_env(database_url, metrics_token=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringcast", "worker", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the worker's probes did not come up: " + proc.stderr.read())
            time.sleep(0.1)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
        ended = None
        while time.monotonic() < deadline:
            text = httpx.get(f"{base}/metrics", headers=auth, timeout=5).text
            ended = metric(text, 'ringcast_attempts_total{outcome="completed"}')
            if ended == 3:
                break
            time.sleep(0.2)
        assert ended == 3, text
        assert metric(text, "ringcast_dispatcher_pass_age_seconds") is not None
        assert metric(text, "ringcast_due_contacts") == 0
        assert metric(text, "process_resident_memory_bytes")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_a_stalled_dispatcher_loop_fails_the_health_check() -> None:
    """/healthz is 503 once the loop has not gone round for longer than allowed."""
    metrics = Metrics()
    metrics.heartbeat.beat()
    with TestClient(probe_app(metrics, None, stale_after_s=0.0)) as c:
        r = c.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "stalled"
    with TestClient(probe_app(metrics, None, stale_after_s=60.0)) as c:
        assert c.get("/healthz").status_code == 200
