"""POST /ringcast/v1/campaigns/{id}/forecast: a stored campaign, forecast from where it is."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ringcast.dispatch.loop import Dispatcher

from .conftest import Account
from .test_volubile_campaigns import valid_body


def make_campaign(client, account: Account, people: int = 30) -> str:
    body = valid_body(account.agent_id)
    body["recipients"] = [{"phone": f"+336123456{i:02d}"} for i in range(people)]
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def url(campaign_id: str) -> str:
    return f"/ringcast/v1/campaigns/{campaign_id}/forecast"


def test_forecast_from_the_current_state_leaves_the_campaign_alone(
    client, runtime, clock, account: Account
) -> None:
    """A forecast starts from the calls in progress, runs every contact to the end, and leaves the
    real campaign untouched."""
    campaign_id = make_campaign(client, account)
    clock.advance(timedelta(hours=2))  # Monday 10:00 in Paris: the slot is open
    dispatcher = Dispatcher(runtime.store, clock)  # no gateway: attempts recorded, none placed
    asyncio.run(dispatcher.step())
    live = [a for a in runtime.store.campaign_attempts(campaign_id) if a.ended_at is None]
    assert live  # calls in progress when the forecast starts

    r = client.post(url(campaign_id), json={"seed": 5, "trace": True}, headers=account.headers)
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["contacts"] == 30 and f["all_final"] and f["violations"] == []
    assert f["reached"] + f["exhausted"] == 30
    assert f["attempts"] == len(f["trace"]) >= 30
    assert f["zone"] == "Europe/Paris" and f["start"].startswith("2026-06-01T10:00")
    traced = {(row["contact"], row["attempt"]) for row in f["trace"]}
    assert len(traced) == len(f["trace"])
    # The real campaign did not move: the same attempts, still in progress.
    after = runtime.store.campaign_attempts(campaign_id)
    assert [a.id for a in after if a.ended_at is None] == [a.id for a in live]
    again = client.post(url(campaign_id), json={"seed": 5}, headers=account.headers).json()
    assert again["attempts"] == f["attempts"] and again["trace"] is None


def test_refusals_in_the_native_shape(client, account: Account, other_account: Account) -> None:
    """An unknown or foreign campaign is 404, bad outcomes or until are 422, and no credential is
    401, in the native error shape."""
    campaign_id = make_campaign(client, account, people=2)
    r = client.post(url(campaign_id), json={}, headers=other_account.headers)
    assert r.status_code == 404 and "detail" in r.json()
    r = client.post(url("nope"), json={}, headers=account.headers)
    assert r.status_code == 404
    r = client.post(url(campaign_id), json={"outcomes": "happy=1"}, headers=account.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "outcomes"
    r = client.post(
        url(campaign_id), json={"until": "2020-01-01T00:00:00Z"}, headers=account.headers
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "until"
    r = client.post(
        url(campaign_id), json={"until": "2027-01-01T00:00:00"}, headers=account.headers
    )
    assert r.status_code == 422  # no offset
    r = client.post(url(campaign_id), json={})
    assert r.status_code == 401


def test_the_forecast_counts_contacts_held_back_by_reason(client, account: Account) -> None:
    """A forecast counts the contacts it holds back by reason, such as a do-not-call number."""
    campaign_id = make_campaign(client, account, people=4)
    client.post(
        "/ringcast/v1/do-not-call", json={"phones": ["+33612345601"]}, headers=account.headers
    )
    client.put(
        "/ringcast/v1/account/calling-policy", json={"policy": "fr"}, headers=account.headers
    )
    f = client.post(url(campaign_id), json={"seed": 2}, headers=account.headers).json()
    assert f["skipped"] == 1 and f["deferred"]["do_not_call"] == 1
    assert f["violations"] == [] and f["reached"] + f["exhausted"] == 3
