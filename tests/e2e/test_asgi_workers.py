"""``ringcast.api.asgi:app`` under uvicorn: two worker processes over one PostgreSQL, and
the refusals that stop it before it serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def pg_env(pg_engine_url: str, tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    return {
        **clean,
        "RINGCAST_DATABASE_URL": pg_engine_url,
        "RINGCAST_SECRET_KEY": os.environ["RINGCAST_SECRET_KEY"],  # set by pg_engine_url
        "RINGCAST_TOKEN_SECRET": "t" * 32,
        "RINGCAST_RATE_LIMIT_REQUESTS": "10000",
        "RINGCAST_DATA_DIR": str(tmp_path / "data"),
    }


def _ringcast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringcast", *args],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def two_workers(pg_env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    upgraded = _ringcast(pg_env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ringcast.api.asgi:app",
         "--workers", "2", "--port", str(port), "--no-access-log"],
        env=pg_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"uvicorn did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
        assert "Traceback" not in output, output


@pytest.mark.postgres
def test_two_uvicorn_workers_serve_the_api_from_one_postgres(
    pg_env: dict[str, str], two_workers: tuple[str, subprocess.Popen[str]]
) -> None:
    """Both worker processes run; every authenticated request, each on a new connection so
    the kernel spreads them over the two, answers 2xx, with the API key and with a bearer
    token one process issued and any process accepts (the shared RINGCAST_TOKEN_SECRET)."""
    base, proc = two_workers
    assert len(_children(proc.pid)) >= 2
    key = json.loads(_ringcast(pg_env, "keys", "create", "--org", "acme", "--json").stdout)
    headers = {"X-Api-Key": key["api_key"]}
    issued = httpx.post(f"{base}/v1/auth/token", json={"scope": ["agents:read"]}, headers=headers)
    assert issued.status_code == 200, issued.text
    bearer = {"Authorization": f"Bearer {issued.json()['token']}"}
    statuses = []
    for number in range(60):
        with httpx.Client(base_url=base, timeout=10) as client:  # a fresh connection each
            r = client.get("/v1/agents", headers=headers if number % 2 else bearer)
            statuses.append(r.status_code)
    assert set(statuses) == {200}, statuses
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


@pytest.mark.postgres
def test_a_database_not_yet_migrated_stops_the_workers_with_one_error_line(
    pg_env: dict[str, str],
) -> None:
    """Before ``ringcast db upgrade``, each process prints one ``error:`` line naming the
    command to run and fails its startup, and uvicorn stops instead of restarting it."""
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "ringcast.api.asgi:app",
         "--workers", "2", "--port", str(free_port())],
        env=pg_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors and all("ringcast db upgrade" in line for line in errors), done.stderr
    assert len(errors) <= 2  # one per process at most
    assert "Traceback" not in done.stderr


def test_without_a_shared_token_secret_uvicorn_stops_with_one_error_line(tmp_path: Path) -> None:
    """Several processes that each drew their own token secret would refuse each other's
    bearer tokens, so an unset RINGCAST_TOKEN_SECRET fails the startup: one ``error:``
    line naming it, uvicorn's startup-failure exit code, no traceback."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env = {**clean, "RINGCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'rc.db'}"}
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "ringcast.api.asgi:app", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # uvicorn's STARTUP_FAILURE
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "RINGCAST_TOKEN_SECRET" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_a_database_that_does_not_answer_stops_uvicorn_with_one_error_line() -> None:
    """Nothing listening where the database should be: one ``error:`` line saying so and
    uvicorn's startup-failure exit, not a lifespan uvicorn would skip to serve 503s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env = {
        **clean,
        "RINGCAST_DATABASE_URL": "postgresql+psycopg://ringcast@127.0.0.1:1/nothing-here",
        "RINGCAST_SECRET_KEY": "Xj3y8W9tq2bq3k3ZB5mX1bqkqf3cH3m0yZ6kGq7vJkE=",
        "RINGCAST_TOKEN_SECRET": "t" * 32,
    }
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "ringcast.api.asgi:app", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach the database" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
