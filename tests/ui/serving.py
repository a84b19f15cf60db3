"""A ``ringcast serve`` for one test module, started cheaply: its two accounts are made
straight in its SQLite database before it starts (no command-line start-ups), and extra
settings may be given (e.g. webhooks to this machine)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime
from ringcast.services import accounts
from tests.support import free_port

from .conftest import Key, Server


def _key(store: Any, org: str) -> Key:
    clock = SystemClock()
    issued = accounts.issue_key(store, clock, org)
    agent = accounts.register_agent(store, clock, org, "Reminder", "Hello {{ firstName }}")
    return Key(issued.plaintext, issued.organization.id, issued.workspace.id, agent.id)


@contextmanager
def serve(tmp: Path, **settings: str) -> Iterator[Server]:
    """The server on a free port, with the accounts ``acme`` and ``globex``; ``settings``
    are more ``RINGCAST_*`` values, named in lower case without the prefix."""
    url = f"sqlite:///{tmp / 'rc.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(
        RINGCAST_DATABASE_URL=url,
        RINGCAST_DATA_DIR=str(tmp / "data"),
        RINGCAST_SIMULATOR_TALK_S="0.2",
        RINGCAST_SIMULATOR_RING_S="0.1",
        RINGCAST_LOG_LEVEL="warning",
    )
    env.update({f"RINGCAST_{k.upper()}": v for k, v in settings.items()})
    runtime = open_runtime(Settings(database_url=url, data_dir=str(tmp / "data")))
    try:
        acme, globex = _key(runtime.store, "acme"), _key(runtime.store, "globex")
    finally:
        runtime.close()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringcast", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"server did not start: {proc.communicate()[0][-2000:]}")
            time.sleep(0.1)
    try:
        yield Server(base, acme, globex)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
