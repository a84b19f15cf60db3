"""The dashboard's pages without a browser: the session, the CSRF check, tenancy, the
list and its filter, the actions' rules, and the forecast the charts draw."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ringcast.clock import VirtualClock
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.records import Dialect
from ringcast.runtime import Runtime
from ringcast.services import campaigns
from ringcast.services.direct_calls import ALWAYS
from ringcast.ui.session import SESSION_TTL
from tests.api.conftest import Account
from tests.api.test_volubile_campaigns import valid_body
from tests.support import always_open_campaign

from .conftest import csrf_of, signed_in

#: the dashboard's only pages a visitor without a session may open
OPEN = {"/", "/ui", "/ui/sign-in"}


def _ui_routes(app: FastAPI) -> list[tuple[str, str]]:
    try:  # FastAPI >= 0.16x keeps included routers whole; this walks into them
        from fastapi.routing import iter_route_contexts

        contexts: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:
        contexts = list(app.routes)
    routes = []
    for route in contexts:
        path = getattr(route, "path", "")
        if path.startswith("/ui") and getattr(route, "methods", None):
            routes += [(m, path) for m in sorted(route.methods) if m != "HEAD"]
    return routes


def _volubile(client: TestClient, account: Account) -> str:
    made = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    assert made.status_code == 201, made.text
    campaign_id: str = made.json()["id"]
    return campaign_id


def _native(runtime: Runtime, clock: VirtualClock, account: Account, phone: str) -> None:
    """A one-contact campaign in the account's workspace, made through the service."""
    config = CampaignConfig(
        "", CampaignStatus.SCHEDULED, Schedule(ALWAYS), PacingLimits(), RetryPolicy()
    )
    campaigns.create(
        runtime.store,
        clock,
        campaigns.NewCampaign(
            account.org_id,
            account.workspace_id,
            "native",
            account.agent_id,
            "agent_id",
            Dialect.NATIVE,
            config,
            [campaigns.Recipient(phone)],
        ),
    )


def test_every_page_but_sign_in_asks_for_a_session(client: TestClient, app: FastAPI) -> None:
    """Without a session each dashboard page leads to the sign-in page (htmx requests get
    a 401 telling htmx where to go), and each form is refused without its token."""
    routes = [(m, p) for m, p in _ui_routes(app) if p not in OPEN]
    assert len(routes) >= 10
    token = csrf_of(client)
    for method, path in routes:
        url = path.replace("{campaign_id}", "00000000-0000-0000-0000-000000000000")
        if method == "GET":
            page = client.get(url, follow_redirects=False)
            assert page.status_code == 303, url
            assert page.headers["location"].startswith("/ui/sign-in?next="), url
            fragment = client.get(url, headers={"HX-Request": "true"}, follow_redirects=False)
            assert fragment.status_code == 401 and "HX-Redirect" in fragment.headers, url
        else:
            refused = client.post(url, follow_redirects=False)
            assert refused.status_code == 403, url
            sent = client.post(url, data={"csrf_token": token}, follow_redirects=False)
            assert sent.status_code == 303, url
            assert sent.headers["location"].startswith("/ui/sign-in"), url


def test_the_session_cookie_is_signed_httponly_strict_and_expires(
    client: TestClient, runtime: Runtime, clock: VirtualClock, account: Account
) -> None:
    """Signing in sets an HttpOnly, SameSite=Strict cookie that expires; a tampered cookie,
    an expired one and one whose key was revoked all lead back to sign-in."""
    token = csrf_of(client)
    done = client.post(
        "/ui/sign-in", data={"api_key": account.key, "csrf_token": token}, follow_redirects=False
    )
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=43200" in cookie
    assert account.key not in cookie  # the key itself never travels back
    assert client.get("/ui/", follow_redirects=False).status_code == 200
    good = client.cookies["ringcast_session"]
    client.cookies.clear()
    tampered = good.replace(account.prefix, "rc_00000000")
    assert _status_with_session(client, tampered) == 303
    assert _status_with_session(client, good[:-1] + ("0" if good[-1] != "0" else "1")) == 303
    assert _status_with_session(client, good) == 200
    client.cookies.set("ringcast_session", good)
    clock.advance(SESSION_TTL)
    assert client.get("/ui/", follow_redirects=False).status_code == 303
    signed_in(client, account)
    runtime.store.revoke_api_key(account.prefix, clock.now())
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def _status_with_session(client: TestClient, session: str) -> int:
    return client.get(
        "/ui/", headers={"Cookie": f"ringcast_session={session}"}, follow_redirects=False
    ).status_code


def test_sign_in_refuses_a_bad_key_and_never_leads_off_site(
    client: TestClient, account: Account
) -> None:
    """A wrong key is a 401 page saying the key is not valid; ``next`` may only lead to a
    dashboard page; signing out ends the session."""
    token = csrf_of(client)
    bad = client.post("/ui/sign-in", data={"api_key": account.key + "x", "csrf_token": token})
    assert bad.status_code == 401 and "This API key is not valid" in bad.text
    empty = client.post("/ui/sign-in", data={"api_key": " ", "csrf_token": token})
    assert empty.status_code == 401 and "Paste an API key" in empty.text
    for target, lands in (("//evil.example/", "/ui/"), ("https://evil.example", "/ui/")):
        went = client.post(
            "/ui/sign-in",
            data={"api_key": account.key, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert went.headers["location"] == lands
    out = client.post("/ui/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_a_form_without_its_token_changes_nothing(client: TestClient, account: Account) -> None:
    """Pause without the form token (or with another visitor's) is a 403 and the campaign
    keeps running; with it, the campaign pauses."""
    campaign_id = _volubile(client, account)
    token = signed_in(client, account)
    pause = f"/ui/campaigns/{campaign_id}/pause"
    assert client.post(pause, follow_redirects=False).status_code == 403
    stranger = TestClient(client.app)
    foreign = csrf_of(stranger)
    assert client.post(pause, data={"csrf_token": foreign}).status_code == 403
    status = client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers).json()["status"]
    assert status == "ACTIVE"
    assert client.post(pause, data={"csrf_token": token}, follow_redirects=False).status_code == 303
    status = client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers).json()["status"]
    assert status == "PAUSED"


def test_another_organization_reads_every_campaign_url_as_unknown(
    client: TestClient, account: Account, other_account: Account
) -> None:
    """Globex signed in: acme's campaign is not listed, and each of its addresses answers
    exactly as an id nobody has; an action on it changes nothing."""
    campaign_id = _volubile(client, account)
    token = signed_in(client, other_account)
    assert campaign_id not in client.get("/ui/").text
    nobody = "00000000-0000-0000-0000-000000000000"
    for tail in ("", "/live", "/calls", "/cancel", "/charts.json", "/export.csv"):
        theirs = client.get(f"/ui/campaigns/{campaign_id}{tail}")
        unknown = client.get(f"/ui/campaigns/{nobody}{tail}")
        assert theirs.status_code == unknown.status_code == 404, tail
        assert theirs.text == unknown.text
    cancel = client.post(f"/ui/campaigns/{campaign_id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 404
    status = client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers).json()["status"]
    assert status == "ACTIVE"


def test_the_list_shows_every_dialect_filters_by_status_and_pages(
    client: TestClient, runtime: Runtime, clock: VirtualClock, account: Account
) -> None:
    """Campaigns made through Volubile and Sarvam are listed with their progress; the
    status filter keeps only that status; 30 campaigns make two pages."""
    store = runtime.store
    sarvam = always_open_campaign(
        store, clock, ["+33612345670", "+33612345671"], name="From Sarvam", dialect=Dialect.SARVAM
    )
    store.set_campaign_status(sarvam.id, CampaignStatus.PAUSED, clock.now())
    for i in range(29):
        clock.advance(timedelta(seconds=1))  # newest first: the Sarvam one is on page 2
        _native(runtime, clock, account, f"+3361234{i:04d}")
    signed_in(client, account)
    first = client.get("/ui/")
    assert "Page 1 of 2 (30 campaigns)" in first.text and "From Sarvam" not in first.text
    assert 'aria-valuetext="0 of 1 final"' in first.text
    second = client.get("/ui/?page=2")
    assert "From Sarvam" in second.text and 'aria-valuetext="0 of 2 final"' in second.text
    assert second.text.count("data-campaign=") == 5
    paused = client.get("/ui/?status=paused")
    assert paused.text.count("data-campaign=") == 1 and "From Sarvam" in paused.text
    assert client.get("/ui/?status=nonsense").text.count("data-campaign=") == 25


def test_an_action_the_rules_refuse_is_explained_on_the_page(
    client: TestClient, account: Account
) -> None:
    """Resuming a campaign that runs is refused by the transition table, as through the
    API: the page says so and nothing changes."""
    campaign_id = _volubile(client, account)
    token = signed_in(client, account)
    done = client.post(f"/ui/campaigns/{campaign_id}/resume", data={"csrf_token": token})
    assert done.status_code == 200 and "Could not resume" in done.text
    status = client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers).json()["status"]
    assert status == "ACTIVE"


def test_the_forecast_chart_predicts_the_native_forecasts_end(
    client: TestClient, account: Account
) -> None:
    """The forecast the page draws ends when ``POST .../forecast`` says, and its curve
    rises from where the campaign is to every contact final."""
    campaign_id = _volubile(client, account)
    signed_in(client, account)
    drawn: dict[str, Any] = client.get(f"/ui/campaigns/{campaign_id}/forecast.json").json()
    native = client.post(
        f"/ringcast/v1/campaigns/{campaign_id}/forecast", json={}, headers=account.headers
    ).json()
    assert drawn["end"] == native["last_final_at"] is not None
    counts = [count for _, count in drawn["points"]]
    assert counts[0] == 0 and counts[-1] == native["contacts"] == 2
    assert counts == sorted(counts)
    charts = client.get(f"/ui/campaigns/{campaign_id}/charts.json").json()
    assert charts["zone"] == "Europe/Paris" and charts["achieved"] == []
