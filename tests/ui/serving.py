"""A ``ringcast serve`` for one test module, started cheaply: its two accounts are made
straight in its SQLite database before it starts (no command-line start-ups: seconds of the
browser tests' budget), and extra settings may be given (e.g. webhooks to this machine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime
from ringcast.services import accounts
from tests.support import running_serve, serve_env


@dataclass(frozen=True)
class Key:
    api_key: str
    org_id: str
    workspace_id: str
    agent_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key}


@dataclass(frozen=True)
class Server:
    base: str
    acme: Key
    globex: Key

    def api(self, key: Key, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, headers=key.headers, timeout=30, **kwargs)


def _key(store: Any, org: str) -> Key:
    clock = SystemClock()
    issued = accounts.issue_key(store, clock, org)
    agent = accounts.register_agent(store, clock, org, "Reminder", "Hello {{ firstName }}")
    return Key(issued.plaintext, issued.organization.id, issued.workspace.id, agent.id)


@contextmanager
def serve(tmp: Path, **settings: str) -> Iterator[Server]:
    """The server on a free port, with the accounts ``acme`` and ``globex``; ``settings``
    are more ``RINGCAST_*`` values, named in lower case without the prefix."""
    env = serve_env(tmp, **{"simulator_talk_s": "0.2", "simulator_ring_s": "0.1", **settings})
    runtime = open_runtime(
        Settings(database_url=env["RINGCAST_DATABASE_URL"], data_dir=env["RINGCAST_DATA_DIR"])
    )
    try:
        acme, globex = _key(runtime.store, "acme"), _key(runtime.store, "globex")
    finally:
        runtime.close()
    with running_serve(env) as (base, _proc):
        yield Server(base, acme, globex)
