"""The native compliance endpoints as a client uses them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ringcast.dispatch.loop import Dispatcher

from .conftest import Account
from .test_forecast_api import make_campaign
from .test_volubile_campaigns import valid_body


def test_calling_policy_of_the_organization_and_a_campaign_override(
    client, account: Account
) -> None:
    """A campaign follows the organization's calling policy until it sets its own, and bad values
    are 422 naming the field."""
    assert client.get("/ringcast/v1/account/calling-policy", headers=account.headers).json() == {
        "policy": "none"
    }
    r = client.put(
        "/ringcast/v1/account/calling-policy", json={"policy": "fr"}, headers=account.headers
    )
    assert r.status_code == 200 and r.json() == {"policy": "fr"}
    bad = client.put(
        "/ringcast/v1/account/calling-policy", json={"policy": "xx"}, headers=account.headers
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "policy"
    campaign_id = make_campaign(client, account, people=1)
    url = f"/ringcast/v1/campaigns/{campaign_id}/compliance"
    got = client.get(url, headers=account.headers).json()
    assert got == {"policy": None, "effective_policy": "fr", "predial": None}
    r = client.put(
        url,
        json={"policy": "none", "predial": {"url": "https://93.184.215.14/ok"}},
        headers=account.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["effective_policy"] == "none"
    assert r.json()["predial"]["timeout_ms"] == 2000
    for body, field in [
        ({"policy": "mars"}, "policy"),
        ({"predial": {"url": "ftp://x.example.com"}}, "url"),
        ({"predial": {"url": "https://x.example.com", "timeout_ms": 5}}, "timeout_ms"),
    ]:
        r = client.put(url, json=body, headers=account.headers)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][-1] == field


def test_do_not_call_list(client, account: Account, other_account: Account) -> None:
    """Numbers are listed once per organization, all or nothing, and can be read, removed and
    imported from a CSV file."""
    base = "/ringcast/v1/do-not-call"
    r = client.post(
        base, json={"phones": ["+33612345678", "+33612345679"]}, headers=account.headers
    )
    assert r.status_code == 200 and r.json() == {"added": 2, "already_listed": 0}
    r = client.post(base, json={"phones": ["+33612345678"]}, headers=account.headers)
    assert r.json() == {"added": 0, "already_listed": 1}
    r = client.post(base, json={"phones": ["+33612345670", "12"]}, headers=account.headers)
    assert r.status_code == 422
    # all or nothing: the bad number is named, and the good one is not listed either
    assert r.json()["detail"][0]["loc"][-2:] == ["phones", 1]
    assert r.json()["detail"][0]["input"] == "12"
    assert client.get(f"{base}/+33612345670", headers=account.headers).status_code == 404
    entry = client.get(f"{base}/+33612345678", headers=account.headers).json()
    assert entry["phone"] == "+33612345678" and entry["source"] == "api"
    # another organization's list is its own
    assert client.get(f"{base}/+33612345678", headers=other_account.headers).status_code == 404
    listed = client.get(base, headers=account.headers).json()
    assert listed["total"] == 2 and [e["phone"] for e in listed["items"]] == [
        "+33612345678",
        "+33612345679",
    ]
    assert client.delete(f"{base}/+33612345679", headers=account.headers).status_code == 204
    assert client.delete(f"{base}/+33612345679", headers=account.headers).status_code == 404
    numbers = "phone\n" + "".join(f"+336123400{i:02d}\n" for i in range(50)) + "nonsense\n"
    r = client.post(
        f"{base}/import",
        content=numbers.encode(),
        headers={**account.headers, "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["read"] == 51 and report["added"] == 50 and report["already_listed"] == 0
    assert report["rejected"][0]["line"] == 52 and report["rejected"][0]["value"] == "nonsense"
    assert client.get(base, headers=account.headers).json()["total"] == 51


def test_reasons_are_visible_and_counted(client, runtime, clock, account: Account) -> None:
    """Contacts held back by do-not-call or by local hours show their reason in the campaign's
    figures and contact list."""
    body = valid_body(account.agent_id)
    body["recipients"] = [{"phone": f"+1212555010{i}"} for i in range(3)]  # New York
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    campaign_id = r.json()["id"]
    client.put(
        "/ringcast/v1/account/calling-policy", json={"policy": "us"}, headers=account.headers
    )
    client.post(
        "/ringcast/v1/do-not-call", json={"phones": ["+12125550100"]}, headers=account.headers
    )
    # Monday 10:00 in Paris: the campaign's slot is open, but it is 04:00 in New York
    clock.advance(timedelta(hours=2))
    dispatcher = Dispatcher(runtime.store, clock)
    for _ in range(4):  # a pass takes as many contacts as pacing could dial, then replans
        asyncio.run(dispatcher.step())
    figures = client.get(
        f"/ringcast/v1/campaigns/{campaign_id}/figures", headers=account.headers
    ).json()
    assert figures["reasons"]["do_not_call"] == 1
    assert figures["reasons"]["outside_local_hours"] == 2
    assert figures["contacts"]["skipped"] == 1 and figures["contacts"]["waiting"] == 2
    assert figures["reasons"]["frequency_cap"] == 0  # every reason is listed
    held = client.get(
        f"/ringcast/v1/campaigns/{campaign_id}/contacts?reason=outside_local_hours",
        headers=account.headers,
    ).json()
    assert held["total"] == 2 and all(k["state"] == "waiting" for k in held["items"])
    # 08:00 in New York, 14:00 in Paris: both windows open
    assert held["items"][0]["next_due_at"].startswith("2026-06-01T12:00")
    # a contact given an explicit zone is due again at once
    contact_id = held["items"][0]["id"]
    r = client.patch(
        f"/ringcast/v1/contacts/{contact_id}", json={"timezone": "Mars/Olympus"},
        headers=account.headers,
    )  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "timezone"
    r = client.patch(
        f"/ringcast/v1/contacts/{contact_id}", json={"timezone": "Europe/Paris"},
        headers=account.headers,
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["timezone"] == "Europe/Paris"


def test_a_private_predial_hook_is_refused_when_set(client, runtime, account: Account) -> None:
    """A pre-dial hook on a private address is a 422 naming predial.url, and nothing is
    stored; allowing private addresses lets it through."""
    campaign_id = make_campaign(client, account, people=1)
    url = f"/ringcast/v1/campaigns/{campaign_id}/compliance"
    body = {"predial": {"url": "http://[::127.0.0.1]:9000/eligible"}}
    r = client.put(url, json=body, headers=account.headers)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["loc"][-2:] == ["predial", "url"]
    assert problem["msg"] == "must be a public address ringcast may reach"
    assert client.get(url, headers=account.headers).json()["predial"] is None
    runtime.settings.webhooks_allow_private = True
    assert client.put(url, json=body, headers=account.headers).status_code == 200
