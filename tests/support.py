"""Helpers shared by the tests that run whole campaigns (and by bench/)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from ringcast.clock import Clock
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.crypto import SECRET_KEY_ENV
from ringcast.records import Campaign, Dialect
from ringcast.services import accounts, campaigns
from ringcast.services.direct_calls import ALWAYS


def always_open_campaign(
    store: Any,
    clock: Clock,
    phones: Sequence[str],
    limits: PacingLimits = PacingLimits(),
    *,
    name: str = "campaign",
    dialect: Dialect = Dialect.NATIVE,
    extra: Mapping[str, Any] | None = None,
    identifiers: Sequence[str | None] | None = None,
    status: CampaignStatus = CampaignStatus.SCHEDULED,
    routes: Sequence[Route] = (),
) -> Campaign:
    """An account "acme" with an agent, and a campaign open around the clock calling ``phones``."""
    issued = accounts.issue_key(store, clock, "acme")
    agent = accounts.register_agent(store, clock, "acme", "A", "Hi {{ name }}")
    config = CampaignConfig(
        "", status, Schedule(ALWAYS), limits, RetryPolicy(), routes=tuple(routes)
    )
    ids = identifiers or [None] * len(phones)
    made = campaigns.create(
        store,
        clock,
        campaigns.NewCampaign(
            org_id=issued.organization.id,
            workspace_id=issued.workspace.id,
            name=name,
            agent_id=agent.id,
            agent_field="agentId",
            dialect=dialect,
            config=config,
            recipients=[
                campaigns.Recipient(p, {"name": f"P{i}"}, ident)
                for i, (p, ident) in enumerate(zip(phones, ids, strict=True))
            ],
            extra=extra or {},
        ),
    )
    if status is not CampaignStatus.SCHEDULED:
        store.set_campaign_status(made.id, status, clock.now())
    return made


def free_port() -> int:
    """A TCP port free on the loopback interface now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment for ``ringcast worker`` processes: fast simulated calls, quiet logs,
    and the test's secret key (every process on one PostgreSQL database must hold it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    if SECRET_KEY_ENV in os.environ:
        env[SECRET_KEY_ENV] = os.environ[SECRET_KEY_ENV]
    env.update(
        RINGCAST_DATABASE_URL=database_url,
        RINGCAST_SIMULATOR_TALK_S="0.3",
        RINGCAST_SIMULATOR_RING_S="0.1",
        RINGCAST_SIMULATOR_OUTCOMES="answered=1",
        RINGCAST_LOG_LEVEL="warning",
    )
    env.update({f"RINGCAST_{k.upper()}": v for k, v in settings.items()})
    return env


def serve_env(tmp: Path, **settings: str) -> dict[str, str]:
    """The environment for a ``ringcast serve`` of one test: this process's environment
    without its ``RINGCAST_*``, a SQLite database and data folder under ``tmp``, quiet logs;
    ``settings`` are more ``RINGCAST_*`` values, named in lower case without the prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(
        RINGCAST_DATABASE_URL=f"sqlite:///{tmp / 'rc.db'}",
        RINGCAST_DATA_DIR=str(tmp / "data"),
        RINGCAST_LOG_LEVEL="warning",
    )
    env.update({f"RINGCAST_{k.upper()}": v for k, v in settings.items()})
    return env


def wait_healthy(
    base: str, processes: Sequence[subprocess.Popen[Any]], tail: Callable[[], str]
) -> None:
    """Wait (30 s at most) until ``base/healthz`` answers; fail the test with ``tail()``
    (what the processes printed) when one of them stops first or time runs out."""
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                for p in processes:
                    p.kill()
                pytest.fail(f"the server did not start:\n{tail()}")
            time.sleep(0.1)


@contextmanager
def running_serve(
    env: Mapping[str, str], output: IO[bytes] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``ringcast serve`` on a free port with ``env``, once it answers: its base URL and
    its process (its output to ``output``, else kept for the failure message)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringcast", "serve", "--port", str(port)],
        env=dict(env),
        stdout=output or subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def tail() -> str:
        if output is not None or proc.stdout is None:
            return "(see the server's log)"
        return proc.communicate()[0].decode(errors="replace")[-2000:]

    wait_healthy(base, [proc], tail)
    try:
        yield base, proc
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


class LocalServer(ThreadingHTTPServer):
    """An HTTP server for a test, on a free port; closing it waits for every answer."""

    daemon_threads = False
    block_on_close = True
    #: socketserver's default backlog of 5 makes a burst of dials wait for SYN
    #: retransmits (1 s, 3 s, ...) on a loaded machine, past a gateway's 5 s timeout
    request_queue_size = 128

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a local server in a thread; yields its base URL."""
    server = LocalServer(handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    """Send a response; a client that stopped waiting (a timeout under test) is fine."""
    try:
        handler.send_response(status)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
