"""Helpers shared by the tests that run whole campaigns (and by bench/)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
