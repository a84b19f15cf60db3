"""The dashboard in a real browser against a real server: sign in, watch a campaign the
Volubile API made progress by itself, pause, resume and cancel it from the page, export
it, and see nothing of another organization's. Each page passes axe-core and is
photographed at 1280 and 360 px."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server, audit, sign_in, volubile_campaign

CONTACTS = 120


@pytest.fixture(scope="module")
def campaign(server: Server) -> dict[str, Any]:
    return volubile_campaign(server, server.acme, "Spring reminders", CONTACTS)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _final(page: Any) -> int:
    text = page.locator("#live .progress-text").inner_text()
    return int(text.split("/")[0])


def _status(server: Server, campaign_id: str) -> str:
    found = server.api(server.acme, "GET", f"/v1/campaigns/{campaign_id}")
    assert found.status_code == 200, found.text
    status: str = found.json()["status"]
    return status


def test_a_bad_key_gets_a_clear_message(server: Server, page: Any) -> None:
    """A wrong key is refused on the sign-in page with a message saying why, and no
    dashboard page opens without signing in."""
    page.goto(server.base + "/")
    assert page.url == server.base + "/ui/sign-in?next=%2Fui%2F"
    audit(page, "sign-in")
    page.get_by_label("API key").fill("rc_nothing_like_a_key")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    audit(page, "sign-in-refused")
    assert page.context.cookies() and all(
        c["name"] != "ringcast_session" for c in page.context.cookies()
    )


def test_the_campaign_appears_and_its_progress_moves_by_itself(
    server: Server, page: Any, campaign: dict[str, Any]
) -> None:
    """The campaign the Volubile API made is listed; its page's progress and calls move
    while the simulator calls, without the page being loaded again."""
    sign_in(page, server, server.acme)
    row = page.locator(f"tr[data-campaign='{campaign['id']}']")
    assert "Spring reminders" in row.inner_text()
    audit(page, "campaigns")
    page.get_by_role("link", name="Spring reminders").click()
    page.wait_for_url(re.compile(f"/ui/campaigns/{campaign['id']}$"))
    page.evaluate("window.__same_document = true")
    first = _final(page)
    page.wait_for_function(
        f"() => parseInt(document.querySelector('#live .progress-text').innerText) > {first}"
    )
    page.locator("#calls tbody tr").first.wait_for()
    assert page.evaluate("window.__same_document") is True
    page.locator("#forecast-end:has-text('Predicted end')").wait_for()
    page.locator("#chart-hourly canvas").wait_for()
    audit(page, "campaign")


def test_pause_resume_and_cancel_from_the_page(
    server: Server, page: Any, campaign: dict[str, Any]
) -> None:
    """Pause reads PAUSED through the API, resume ACTIVE; cancel asks first and then reads
    CANCELLED."""
    sign_in(page, server, server.acme)
    page.goto(f"{server.base}/ui/campaigns/{campaign['id']}")
    page.get_by_role("button", name="Pause").click()
    page.get_by_role("button", name="Resume").wait_for()
    assert _status(server, campaign["id"]) == "PAUSED"
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("button", name="Pause").wait_for()
    assert _status(server, campaign["id"]) == "ACTIVE"
    page.get_by_role("link", name="Cancel", exact=True).click()
    page.get_by_role("heading", name=re.compile("^Cancel")).wait_for()
    audit(page, "cancel-confirmation")
    assert _status(server, campaign["id"]) == "ACTIVE"  # asking changed nothing
    page.get_by_role("button", name="Yes, cancel the campaign").click()
    page.locator("#campaign-status:has-text('cancelled')").wait_for()
    assert _status(server, campaign["id"]) == "CANCELLED"
    assert page.get_by_role("button", name="Resume").count() == 0


def test_the_exported_csv_equals_the_api_export(
    server: Server, page: Any, campaign: dict[str, Any]
) -> None:
    """The page's Export CSV link downloads what the API's export returns, byte for byte."""
    cid = campaign["id"]
    server.api(server.acme, "POST", f"/v1/campaigns/{cid}/status", json="CANCELLED")
    deadline = time.monotonic() + 15
    while (
        server.api(server.acme, "GET", f"/ringcast/v1/campaigns/{cid}/figures").json()["contacts"][
            "dialing"
        ]
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    sign_in(page, server, server.acme)
    page.goto(f"{server.base}/ui/campaigns/{cid}")
    with page.expect_download() as got:
        page.get_by_role("link", name="Export CSV", exact=True).click()
    downloaded = Path(got.value.path()).read_bytes()
    api = server.api(server.acme, "GET", f"/ringcast/v1/campaigns/{cid}/export?format=csv")
    assert api.status_code == 200, api.text
    assert downloaded == api.content
    assert downloaded.count(b"\n") == CONTACTS + 1  # the header, then one row per contact
    attempts = page.request.get(f"{server.base}/ui/campaigns/{cid}/export.csv?rows=attempts")
    api_attempts = server.api(
        server.acme, "GET", f"/ringcast/v1/campaigns/{cid}/export?format=csv&rows=attempts"
    )
    assert attempts.status == 200 and attempts.body() == api_attempts.content
    assert attempts.body().count(b"\n") > 1


def test_another_organization_sees_none_of_it(
    server: Server, page: Any, campaign: dict[str, Any]
) -> None:
    """Globex's key lists no campaign, and typing acme's addresses shows the same
    not-found page as an id nobody has; the charts and the export answer 404 too."""
    sign_in(page, server, server.globex)
    assert page.locator("tr[data-campaign]").count() == 0
    assert "Spring reminders" not in page.content()
    cid = campaign["id"]
    for path in (f"/ui/campaigns/{cid}", f"/ui/campaigns/{cid}/cancel"):
        answer = page.goto(server.base + path)
        assert answer is not None and answer.status == 404
        assert "no such campaign" in page.content()
        assert "Spring reminders" not in page.content()
    audit(page, "not-found")
    for path in ("/charts.json", "/forecast.json", "/export.csv", "/live", "/calls"):
        assert page.request.get(f"{server.base}/ui/campaigns/{cid}{path}").status == 404
    nobody = page.request.get(f"{server.base}/ui/campaigns/{'0' * 8}-0000-0000-0000-{'0' * 12}")
    assert nobody.status == 404
