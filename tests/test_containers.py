"""The container files describe the documented deployment: PostgreSQL, one migration that
runs first, one API server that does not dispatch, two workers, one non-root image.

No image can be built here (no registry of base images is reachable), so these read the
files; ``docker compose config`` runs too where docker compose is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RINGCAST_SERVICES = {"migrate", "api", "worker-1", "worker-2"}
#: a worker's /metrics and /healthz, on the port its container publishes
WORKER_PROBES = ["--metrics-host", "0.0.0.0", "--metrics-port", "9100"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml")
    doc: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return doc


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping, so services can extend it"
    return env


def test_compose_runs_postgres_one_migration_one_server_and_two_workers(compose) -> None:
    """The services and the command each runs: PostgreSQL 15 on a named volume,
    ``ringcast db upgrade`` once, ``ringcast serve`` without its dispatcher, two workers."""
    services = compose["services"]
    assert set(services) == RINGCAST_SERVICES | {"postgres"}
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "PostgreSQL's data lives on a named volume"
    commands = {name: services[name]["command"] for name in RINGCAST_SERVICES}
    assert commands == {
        "migrate": ["ringcast", "db", "upgrade"],
        "api": ["ringcast", "serve"],
        "worker-1": ["ringcast", "worker", *WORKER_PROBES],
        "worker-2": ["ringcast", "worker", *WORKER_PROBES],
    }
    assert _env(services["api"])["RINGCAST_EMBEDDED_DISPATCHER"] == "false"
    assert services["migrate"]["restart"] == "no"  # a one-shot: it exits when done


def test_nothing_starts_before_the_migration_has_succeeded(compose) -> None:
    """The order ``up`` follows: PostgreSQL healthy, then the migration, which must exit 0
    before the server and the workers start."""
    services = compose["services"]
    assert services["postgres"]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in RINGCAST_SERVICES - {"migrate"}:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }, name


def test_every_ringcast_service_shares_one_database_and_a_required_secret_key(compose) -> None:
    """Each ringcast process reaches the compose PostgreSQL with the same URL, and the
    secret key comes from the environment, ``up`` refusing to start without it."""
    services = compose["services"]
    urls = {_env(services[name])["RINGCAST_DATABASE_URL"] for name in RINGCAST_SERVICES}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql://")
    assert "@postgres:5432/" in next(iter(urls))
    for name in RINGCAST_SERVICES:
        assert re.fullmatch(
            r"\$\{RINGCAST_SECRET_KEY:\?.+\}", _env(services[name])["RINGCAST_SECRET_KEY"]
        ), name
        assert services[name]["image"] == services["api"]["image"]  # one image, every role


def test_the_workers_and_the_migration_do_not_inherit_the_http_health_check(compose) -> None:
    """The image's health check asks ``serve``'s ``/healthz``: the workers ask their own,
    on the metrics port they publish, and the one-shot migration has none."""
    services = compose["services"]
    assert "healthcheck" not in services["api"]
    assert services["migrate"]["healthcheck"] == {"disable": True}
    published = set()
    for name in ("worker-1", "worker-2"):
        assert "http://127.0.0.1:9100/healthz" in " ".join(services[name]["healthcheck"]["test"])
        (port,) = services[name]["ports"]
        assert port.endswith(":9100"), port
        published.add(port)
    assert len(published) == 2  # each worker on its own host port


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_the_image_is_slim_non_root_installed_from_the_checkout_and_serves() -> None:
    """python:3.11-slim; the package installed from the copied checkout; a non-root user
    in force when the command runs; ``ringcast serve`` on all interfaces by default, with a
    health check on ``/healthz``."""
    steps = _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    kinds = [kind for kind, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    copied = [args.split()[0] for kind, args in steps if kind == "COPY"]
    assert {"pyproject.toml", "src"} <= set(copied)
    assert any(kind == "RUN" and re.search(r"pip install \.(\s|$)", a) for kind, a in steps)
    users = [args for kind, args in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert kinds.index("USER") < kinds.index("CMD")
    assert "RINGCAST_HOST=0.0.0.0" in " ".join(a for kind, a in steps if kind == "ENV")
    healthcheck = next(a for kind, a in steps if kind == "HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert steps[-1] == ("CMD", '["ringcast", "serve"]')


def test_the_build_context_lets_in_what_the_image_copies_and_nothing_local() -> None:
    """``.dockerignore`` excludes everything but the files the Dockerfile copies, so local
    databases, their key files and the virtualenv never reach the image."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*", "everything is excluded first"
    allowed = {r.removeprefix("!").rstrip("/") for r in rules if r.startswith("!")}
    steps = _instructions((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    for kind, args in steps:
        if kind == "COPY":
            *sources, _ = args.split()
            assert set(sources) <= allowed, sources


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_config_accepts_the_file_and_insists_on_the_secret_key() -> None:
    """Where docker compose is installed (it needs no daemon for this): ``config`` parses
    the file with a secret key given, and refuses it without one, naming the variable."""
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    env = {k: v for k, v in os.environ.items() if k != "RINGCAST_SECRET_KEY"}
    base = [*command, "-f", str(ROOT / "compose.yaml"), "config", "-q"]
    refused = subprocess.run(base, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert "RINGCAST_SECRET_KEY" in refused.stderr
    given = {**env, "RINGCAST_SECRET_KEY": "a-fernet-key"}
    accepted = subprocess.run(base, env=given, capture_output=True, text=True, check=False)
    assert accepted.returncode == 0, accepted.stderr
