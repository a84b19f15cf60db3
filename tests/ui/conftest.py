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
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ringcast.clock import SystemClock, VirtualClock
from ringcast.runtime import Runtime
from tests.api.conftest import Account, make_account
from tests.app_fixtures import app as app
from tests.app_fixtures import client as client
from tests.app_fixtures import clock as clock
from tests.app_fixtures import runtime as runtime

from .serving import Key as Key
from .serving import Server as Server
from .serving import serve

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``ringcast serve`` on a free port: SQLite, simulated calls of about half a second."""
    with serve(
        tmp_path_factory.mktemp("ui"),
        simulator_outcomes="answered=0.5,no_answer=0.3,busy=0.1,voicemail=0.1",
        simulator_talk_s="0.3",
        simulator_ring_s="0.2",
        default_attempts_per_second="3",
    ) as started:
        yield started


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
