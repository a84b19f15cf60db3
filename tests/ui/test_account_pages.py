"""The account pages: the do-not-call list (search, add, remove, import with progress),
the calling policy, the connections' live load and the webhook deliveries (retry a
failed one), each the signed-in key's organization's only. In-process for the rules; in
a real browser against ``ringcast serve`` for the pages as people use them."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.core import step as tick
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.db.sql.outbox import queue
from ringcast.db.store import SqlStore
from ringcast.records import Connection
from ringcast.runtime import Runtime, open_runtime
from ringcast.services import accounts, compliance
from ringcast.webhooks.outbox import LIFECYCLE, NewDelivery
from tests.integration.factories import campaign as stored_campaign
from tests.integration.factories import contacts
from tests.support import answer, serving

from .conftest import Server, audit, sign_in, volubile_campaign
from .serving import serve

NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One database for the module's in-process tests; each test has its own accounts."""
    tmp = tmp_path_factory.mktemp("account")
    rt = open_runtime(Settings(database_url=f"sqlite:///{tmp / 'rc.db'}", data_dir=str(tmp / "d")))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def app_clock(runtime: Runtime) -> tuple[Any, VirtualClock]:
    clock = VirtualClock(NOW)
    return create_app(runtime, clock), clock


class Visitor:
    """A signed-in browser-less visitor: its client, organization and CSRF token."""

    def __init__(self, app: Any, runtime: Runtime, clock: VirtualClock, org: str) -> None:
        self.issued = accounts.issue_key(runtime.store, clock, org)
        self.org_id = self.issued.organization.id
        self.client = TestClient(app)
        self.client.post(
            "/ui/sign-in",
            data={
                "api_key": self.issued.plaintext,
                "csrf_token": csrf(self.client.get("/ui/sign-in").text),
            },
        )
        self.token = csrf(self.client.get("/ui/account/do-not-call").text)

    def post(self, path: str, **data: Any) -> httpx.Response:
        return self.client.post(path, data={**data, "csrf_token": self.token})


@pytest.fixture
def visitors(
    request: pytest.FixtureRequest, app_clock: tuple[Any, VirtualClock], runtime: Runtime
) -> tuple[Visitor, Visitor]:
    """Two organizations' visitors, named after the test so no two tests share one."""
    app, clock = app_clock
    name = request.node.name[:40]
    return Visitor(app, runtime, clock, f"a-{name}"), Visitor(app, runtime, clock, f"b-{name}")


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-phone="([^"]+)"', html)


def test_do_not_call_add_search_remove_and_a_refused_number(
    visitors: tuple[Visitor, Visitor], runtime: Runtime
) -> None:
    """Numbers typed are listed (all or none: one bad number adds nothing and is named),
    found by their digits however typed, and removed; the other organization sees none."""
    me, other = visitors
    added = me.post("/ui/account/do-not-call", phones="+33612345678, +33699887766\n+14155550123")
    assert added.status_code == 200 and "3 numbers added" in added.text
    assert listed(added.text) == ["+14155550123", "+33612345678", "+33699887766"]
    assert 'title="+33612345678">+33 6 12 34 56 78</span>' in added.text  # human, E.164 on hover
    refused = me.post("/ui/account/do-not-call", phones="+33611111111\n12345")
    assert refused.status_code == 422 and "12345: must be an E.164 number" in refused.text
    assert "+33611111111" in refused.text  # what was typed is kept
    assert runtime.store.do_not_call_entry(me.org_id, "+33611111111") is None
    found = me.client.get("/ui/account/do-not-call", params={"search": "(+33) 6 99"})
    assert listed(found.text) == ["+33699887766"]
    gone = me.post("/ui/account/do-not-call/remove", phone="+33699887766")
    assert "removed from the list" in gone.text
    assert runtime.store.do_not_call_entry(me.org_id, "+33699887766") is None
    assert listed(other.client.get("/ui/account/do-not-call").text) == []
    other.post("/ui/account/do-not-call/remove", phone="+33612345678")  # not theirs
    assert runtime.store.do_not_call_entry(me.org_id, "+33612345678") is not None


def test_an_import_streams_its_progress_then_the_report(
    visitors: tuple[Visitor, Visitor], runtime: Runtime
) -> None:
    """A file of 4,500 lines sent by the page's script comes back as progress lines, one
    per batch, with the bytes read growing to the file's size, then the report; without
    script the page shows the report; both through the API's import rules."""
    me, _ = visitors
    lines = ["phone"] + [f"+3361{i:07d}" for i in range(4_500)] + ["not-a-number"]
    data = ("\n".join(lines) + "\n").encode()
    streamed = me.client.post(
        "/ui/account/do-not-call/import",
        data={"csrf_token": me.token},
        files={"file": ("numbers.csv", data, "text/csv")},
        headers={"X-Progress": "ndjson"},
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    updates = [json.loads(line) for line in streamed.text.splitlines()]
    progress, last = updates[:-1], updates[-1]
    assert len(progress) >= 1 + 3  # the start, then one per batch of 2,000
    assert [u["done"] for u in progress] == sorted(u["done"] for u in progress)
    assert progress[-1] == {"done": len(data), "total": len(data), "listed": 4_500}
    report = last["report"]
    assert (report["read"], report["added"], report["rejected"]) == (4_501, 4_500, 1)
    assert report["rejected_lines"][0]["line"] == 4_502
    again = me.client.post(
        "/ui/account/do-not-call/import",
        data={"csrf_token": me.token},
        files={"file": ("numbers.csv", b"+33610000000\n+33699999999\n", "text/csv")},
    )
    assert "Read 2 numbers: 1 added, 1 already listed, 0 rejected." in again.text
    assert runtime.store.list_do_not_call(me.org_id, 0, 1)[1] == 4_501


def test_forms_without_their_token_change_nothing(
    visitors: tuple[Visitor, Visitor], runtime: Runtime
) -> None:
    """Every account form posted without the page's CSRF token is refused with 403."""
    me, _ = visitors
    for path, data in [
        ("/ui/account/do-not-call", {"phones": "+33612345678"}),
        ("/ui/account/do-not-call/remove", {"phone": "+33612345678"}),
        ("/ui/account/policy", {"policy": "fr"}),
        ("/ui/account/webhooks/x/retry", {}),
    ]:
        assert me.client.post(path, data=data).status_code == 403, path
    refused = me.client.post(
        "/ui/account/do-not-call/import", files={"file": ("n.csv", b"+33612345678\n")}
    )
    assert refused.status_code == 403
    assert runtime.store.list_do_not_call(me.org_id, 0, 1)[1] == 0
    assert compliance.calling_policy(runtime.store, me.org_id) == "none"


def test_the_policy_set_on_the_page_is_the_apis(
    visitors: tuple[Visitor, Visitor], app_clock: tuple[Any, VirtualClock]
) -> None:
    """Choosing a policy on the page is what the native API then reads; an unknown one is
    refused naming it; each policy is described in words."""
    me, other = visitors
    page = me.client.get("/ui/account/policy")
    assert "Calls between 10:00-13:00, 14:00-20:00" in page.text
    saved = me.post("/ui/account/policy", policy="us")
    assert "Calling policy set to <strong>us</strong>" in saved.text
    api = me.client.get(
        "/ringcast/v1/account/calling-policy", headers={"X-Api-Key": me.issued.plaintext}
    )
    assert api.json() == {"policy": "us"}
    refused = me.post("/ui/account/policy", policy="mars")
    assert refused.status_code == 422 and "policy &#39;mars&#39;: must be one of" in refused.text
    assert 'id="current-policy">none<' in other.client.get("/ui/account/policy").text


def test_connections_show_calls_in_progress_against_their_limits(
    visitors: tuple[Visitor, Visitor], runtime: Runtime, app_clock: tuple[Any, VirtualClock]
) -> None:
    """A connection dialling shows its calls in progress of its cap and its rate over the
    last minute of its own; the other organization sees no connection."""
    me, other = visitors
    _, clock = app_clock
    store = runtime.store
    store.put_connection(
        Connection(me.org_id, "trunk-a", "Paris trunk", "simulator", {}, ("+33100000000",),
                   2.0, 3, NOW, NOW)
    )  # fmt: skip
    ws = store.default_workspace(me.org_id)
    assert ws is not None
    agent = accounts.register_agent(store, clock, me.issued.organization.name, "A", "Hi")
    config = CampaignConfig(
        id="",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(clock_time(0), clock_time(23, 59)),))),
        pacing=PacingLimits(attempts_per_second=50, max_concurrent=50),
        retry=RetryPolicy(),
        routes=(Route("trunk-a", ()),),
    )
    c = stored_campaign(me.org_id, ws.id, agent.id)
    c = replace(c, config=replace(config, id=c.id))
    store.create_campaign(c, contacts(c.id, 5, due_at=NOW))
    now = clock.now()
    horizon = timedelta(seconds=5)
    writes = store.run_tick(c.id, now, horizon, 100, lambda s, v: tick.decide(s, now, horizon, v))
    assert writes is not None and writes.dials
    dialled = len(writes.dials)
    live = me.client.get("/ui/account/connections/live")
    row = re.search(r'<tr data-connection="trunk-a">(.*?)</tr>', live.text, re.S)
    assert row is not None
    assert f"{dialled} of 3" in row.group(1)
    assert f"{dialled / 60:.2f} of 2" in row.group(1)
    assert "+33 1 00 00 00 00" in row.group(1)
    assert 'hx-trigger="every 3s"' in me.client.get("/ui/account/connections").text
    assert "No connection yet" in other.client.get("/ui/account/connections").text


def test_a_failed_delivery_is_retried_from_the_page_and_only_by_its_organization(
    visitors: tuple[Visitor, Visitor], runtime: Runtime
) -> None:
    """The deliveries list shows a failed delivery's answer with a Retry button; Retry
    makes it pending; the other organization's Retry reads it as unknown and changes
    nothing; the status filter keeps to one status."""
    me, other = visitors
    store = runtime.store
    ws = store.default_workspace(me.org_id)
    assert ws is not None and isinstance(store, SqlStore)
    agent = accounts.register_agent(
        store, VirtualClock(NOW), me.issued.organization.name, "A", "Hi"
    )
    c = stored_campaign(me.org_id, ws.id, agent.id)
    store.create_campaign(c, [])
    with store.engine.begin() as conn:
        queue(conn, [NewDelivery(me.org_id, c.id, None, LIFECYCLE, "campaign.paused",
                                 "https://hooks.example/in", NOW + timedelta(seconds=i))
                     for i in range(2)])  # fmt: skip
    made, _ = store.list_deliveries(me.org_id, None, 0, 10)
    failed = made[0].id
    store.record_delivery(
        failed, status="failed", code=410, error="410 Gone", next_attempt_at=None, at=NOW
    )
    page = me.client.get("/ui/account/webhooks", params={"status": "failed"})
    assert re.findall(r'data-delivery="([^"]+)"', page.text) == [failed]
    assert "HTTP 410" in page.text and ">Retry</button>" in page.text
    assert "+02:00" in page.text  # the campaign's zone (Paris, summer), with the offset
    theirs = other.post(f"/ui/account/webhooks/{failed}/retry")
    assert "no such delivery" in theirs.text
    assert store.get_delivery(me.org_id, failed).status == "failed"  # type: ignore[union-attr]
    assert other.client.get("/ui/account/webhooks").text.count("data-delivery=") == 0
    done = me.post(f"/ui/account/webhooks/{failed}/retry", status="failed")
    assert "queued: it is sent again" in done.text
    assert store.get_delivery(me.org_id, failed).status == "pending"  # type: ignore[union-attr]
    again = me.post(f"/ui/account/webhooks/{failed}/retry")
    assert "Only a failed delivery can be retried" in again.text


# --- in a real browser -------------------------------------------------------------------


class Receiver:
    """A webhook receiver that answers 410 Gone until told to take deliveries."""

    def __init__(self) -> None:
        self.accepting = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer(self, 200 if outer.accepting.is_set() else 410, b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.handler = Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    made = Receiver()
    with serving(made.handler) as url:
        yield made, url


@pytest.fixture(scope="module")
def account_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``ringcast serve`` that may send webhooks to this machine (the receiver)."""
    with serve(tmp_path_factory.mktemp("ui-account"), webhooks_allow_private="true") as server:
        yield server


def _wait(check: Any, what: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.2)
    return found


def test_in_a_browser_the_account_pages_work_by_keyboard_and_keep_to_their_organization(
    account_server: Server, browser: Any, receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    """In a real browser: add, find and remove a do-not-call number, import a file with
    its progress bar, set the calling policy (the API reads it), see a connection's
    limits, and retry a failed webhook delivery until it is delivered; another
    organization's key sees none of it, even with the first one's Retry typed in. Every
    page passes axe-core and is photographed at 1280 and 360 px."""
    server = account_server
    hook, url = receiver
    acme = server.acme
    put = server.api(acme, "PUT", "/ringcast/v1/account/webhook",
                     json={"url": url + "/hook", "secret": "s" * 32})  # fmt: skip
    assert put.status_code == 200, put.text
    trunk = {
        "name": "Paris trunk",
        "max_concurrent": 4,
        "max_attempts_per_second": 2,
        "caller_numbers": ["+33123456789"],
    }
    made = server.api(acme, "PUT", "/ringcast/v1/connections/trunk-a", json=trunk)
    assert made.status_code == 201, made.text
    # its calls end with deliveries to the account webhook, which the receiver refuses
    volubile_campaign(server, acme, "Hooks", 3)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, server, acme)
        page.get_by_role("link", name="Account").click()
        page.get_by_role("heading", name="Do-not-call list").wait_for()
        page.get_by_label("Numbers, one per line").fill("+33 6 12 34 56 78\n+14155550123")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the Add button, from the keyboard
        page.get_by_role("status").filter(has_text="2 numbers added").wait_for()
        page.get_by_label("Search numbers").fill("415")
        page.get_by_label("Search numbers").press("Enter")
        page.wait_for_url(re.compile(r"search=415"))
        assert page.locator("tr[data-phone]").count() == 1
        cell = page.locator("tr[data-phone='+14155550123'] .phone")
        assert cell.get_attribute("title") == "+14155550123"
        page.get_by_role("button", name="Remove +14155550123").click()
        page.get_by_role("status").filter(has_text="removed from the list").wait_for()
        page.get_by_role("link", name="Show all").click()
        page.locator("#dnc-list .pager").filter(has_text="(1 number)").wait_for()
        numbers = tmp_path / "numbers.csv"
        numbers.write_text("phone\n" + "".join(f"+3361{i:07d}\n" for i in range(5_000)))
        page.get_by_label("Numbers file").set_input_files(str(numbers))
        page.get_by_role("button", name="Import").click()
        page.locator("#import-report").filter(has_text="5000 added").wait_for()
        assert page.locator("#import-bar").get_attribute("value") == "100"
        page.locator("#dnc-list .pager").filter(has_text="(5001 numbers)").wait_for()
        audit(page, "account-do-not-call")
        listed = server.api(acme, "GET", "/ringcast/v1/do-not-call", params={"limit": 1})
        assert listed.json()["total"] == 5_001

        page.get_by_role("link", name="Calling policy").click()
        page.get_by_label("fr", exact=True).check()
        page.get_by_role("button", name="Save the policy").click()
        page.get_by_role("status").filter(has_text="Calling policy set to").wait_for()
        policy = server.api(acme, "GET", "/ringcast/v1/account/calling-policy").json()
        assert policy == {"policy": "fr"}
        audit(page, "account-policy")

        page.get_by_role("link", name="Connections").click()
        row = page.locator("tr[data-connection='trunk-a']")
        assert "0 of 4" in row.inner_text() and "of 2" in row.inner_text()
        audit(page, "account-connections")

        page.get_by_role("link", name="Webhook deliveries").click()
        page.get_by_label("Status").select_option("failed")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"status=failed"))

        def refused() -> bool:
            page.reload()
            return page.locator("tr[data-delivery]").count() > 0

        _wait(refused, "a delivery the receiver refused")
        failed = page.locator("tr[data-delivery]").first
        delivery_id = failed.get_attribute("data-delivery")
        assert "HTTP 410" in failed.inner_text()
        audit(page, "account-webhooks")
        hook.accepting.set()
        failed.get_by_role("button", name=re.compile("^Retry")).click()
        page.get_by_role("status").filter(has_text="queued").wait_for()

        def delivered() -> bool:
            page.goto(f"{server.base}/ui/account/webhooks?status=delivered")
            return page.locator(f"tr[data-delivery='{delivery_id}']").count() == 1

        _wait(delivered, "the retried delivery to be delivered")

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, server, server.globex)
        page.goto(f"{server.base}/ui/account/do-not-call")
        assert page.locator("tr[data-phone]").count() == 0
        page.goto(f"{server.base}/ui/account/webhooks")
        assert page.locator("tr[data-delivery]").count() == 0
        page.goto(f"{server.base}/ui/account/connections")
        assert page.locator("tr[data-connection]").count() == 0
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        theirs = page.request.post(
            f"{server.base}/ui/account/webhooks/{delivery_id}/retry",
            form={"csrf_token": token or ""},
        )
        assert "no such delivery" in theirs.text()
    finally:
        context.close()
