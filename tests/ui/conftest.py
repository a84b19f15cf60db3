"""The dashboard's browser tests: a real ``ringcast serve`` (SQLite in a temporary folder,
the simulator dispatcher) per module, one Debian chromium per session driven by
Playwright, axe-core injected in each page, screenshots at 1280 and 360 px.

Without chromium the browser tests are skipped outside CI (``scripts/install-browser``
installs it) and fail under CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import SystemClock, VirtualClock
from ringcast.config import Settings
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.runtime import Runtime, open_runtime
from ringcast.services import accounts
from tests.api.conftest import START, Account, make_account
from tests.support import free_port

HERE = Path(__file__).parent
AXE = HERE / "vendor" / "axe-4.14.1.min.js"
SCREENSHOTS = HERE.parent.parent / "test-artifacts" / "screenshots"
WIDTHS = (1280, 360)


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per module (skipped without one, outside CI). Not one per session:
    Playwright's sync API keeps an asyncio loop running in this thread while it is open,
    and every later test that calls ``asyncio.run`` would fail under it."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: run scripts/install-browser")
        pytest.skip("chromium is not installed (scripts/install-browser installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


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


def _accounts(tmp: Path, orgs: tuple[str, ...]) -> list[Key]:
    """Keys and agents written straight into the server's database before it starts (the
    CLI would take a process start each: seconds of the browser tests' budget)."""
    runtime = open_runtime(
        Settings(database_url=f"sqlite:///{tmp / 'rc.db'}", data_dir=str(tmp / "data"))
    )
    clock = SystemClock()
    try:
        keys = []
        for org in orgs:
            issued = accounts.issue_key(runtime.store, clock, org)
            agent = accounts.register_agent(
                runtime.store, clock, org, "Reminder", "Hello {{ firstName }}"
            )
            keys.append(
                Key(issued.plaintext, issued.organization.id, issued.workspace.id, agent.id)
            )
        return keys
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``ringcast serve`` on a free port: SQLite, simulated calls of about half a second."""
    tmp = tmp_path_factory.mktemp("ui")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(
        RINGCAST_DATABASE_URL=f"sqlite:///{tmp / 'rc.db'}",
        RINGCAST_DATA_DIR=str(tmp / "data"),
        RINGCAST_SIMULATOR_OUTCOMES="answered=0.5,no_answer=0.3,busy=0.1,voicemail=0.1",
        RINGCAST_SIMULATOR_TALK_S="0.3",
        RINGCAST_SIMULATOR_RING_S="0.2",
        RINGCAST_DEFAULT_ATTEMPTS_PER_SECOND="3",
        RINGCAST_LOG_LEVEL="warning",
    )
    acme, globex = _accounts(tmp, ("acme", "globex"))
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
            time.sleep(0.2)
    try:
        yield Server(base, acme, globex)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def open_zone(now: datetime) -> tuple[str, str]:
    """A fixed-offset zone where ``now`` is mid-afternoon (inside Volubile's legal hours,
    14:00-20:00), and today's date there: the campaign dials at once, whenever CI runs."""
    for offset in range(-12, 15):
        local = now + timedelta(hours=offset)
        if 15 <= local.hour <= 18:
            # the IANA names have the sign reversed: Etc/GMT-3 is UTC+3
            name = "Etc/UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
            return name, local.date().isoformat()
    raise AssertionError("some offset always has mid-afternoon")


def volubile_campaign(server: Server, key: Key, name: str, contacts: int) -> dict[str, Any]:
    """A campaign created through the Volubile API, dialling now, every day."""
    zone, today = open_zone(SystemClock().now())
    body = {
        "name": name,
        "agentId": key.agent_id,
        "startDate": today,
        "timeSlots": [{"startTime": "10:00", "endTime": "20:00"}],
        "batchSize": 1000,
        "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"],
        "recipients": [
            {"phone": f"+3361234{i:04d}", "context": {"firstName": f"P{i}", "city": "Lyon"}}
            for i in range(contacts)
        ],
        "timezone": zone,
    }
    made = server.api(key, "POST", "/v1/campaigns", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def sign_in(page: Any, server: Server, key: Key) -> None:
    page.goto(server.base + "/ui/sign-in")
    page.get_by_label("API key").fill(key.api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/ui/")


def audit(page: Any, name: str) -> None:
    """axe-core in the page: no serious or critical violation; then a screenshot at each
    width into test-artifacts/screenshots/ (kept by CI)."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"""
    )
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


# --- the pages without a browser: the app in process, on a virtual clock ---------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        rt = open_runtime(
            Settings(
                database_url=f"sqlite:///{tmp_path / 'rc.db'}", data_dir=str(tmp_path / "data")
            )
        )
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


@pytest.fixture
def account(runtime: Runtime, clock: VirtualClock) -> Account:
    return make_account(runtime, clock, "acme")


@pytest.fixture
def other_account(runtime: Runtime, clock: VirtualClock) -> Account:
    return make_account(runtime, clock, "globex")


def csrf_of(client: TestClient) -> str:
    """The CSRF token the dashboard's forms carry for this client's cookie."""
    page = client.get("/ui/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def signed_in(client: TestClient, account: Account) -> str:
    """Sign ``client`` in with the account's key; the CSRF token its forms then carry."""
    token = csrf_of(client)
    done = client.post(
        "/ui/sign-in", data={"api_key": account.key, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return token
