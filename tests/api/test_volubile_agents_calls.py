"""Volubile agents and calls."""

from __future__ import annotations

from datetime import timedelta

from .conftest import Account


def test_agents_are_paged_from_one(client, runtime, clock, account: Account) -> None:
    """GET /v1/agents pages start at 1 and carry the totals."""
    from ringcast.services import accounts

    for i in range(4):
        clock.advance(timedelta(seconds=1))
        accounts.register_agent(runtime.store, clock, "acme", f"Agent {i}", "Hi {{ x }}")
    r = client.get("/v1/agents", params={"page": 2, "size": 2}, headers=account.headers)
    assert r.status_code == 200
    page = r.json()
    assert page["page"] == 2 and page["size"] == 2
    assert page["totalElements"] == 5 and page["totalPages"] == 3
    # creation order: Reminder (the account's), then Agent 0..3
    assert [a["name"] for a in page["content"]] == ["Agent 1", "Agent 2"]
    assert client.get("/v1/agents", params={"page": 0}, headers=account.headers).status_code == 400
    assert (
        client.get("/v1/agents", params={"size": 101}, headers=account.headers).status_code == 400
    )


def test_get_and_patch_agent(client, account: Account) -> None:
    """PATCH changes only the fields sent."""
    r = client.get(f"/v1/agents/{account.agent_id}", headers=account.headers)
    assert r.json()["type"] == "OUTBOUND" and r.json()["active"] is True
    r = client.patch(
        f"/v1/agents/{account.agent_id}",
        json={"name": "Renamed", "archived": True},
        headers=account.headers,
    )
    assert r.status_code == 200
    agent = r.json()
    assert agent["name"] == "Renamed" and agent["archived"] is True and agent["active"] is True
    assert client.get(f"/v1/agents/{account.agent_id}", headers=account.headers).json() == agent
    bad = client.patch(
        f"/v1/agents/{account.agent_id}", json={"active": "sometimes"}, headers=account.headers
    )
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "active"


def test_direct_call_is_visible_before_it_is_dialled(client, account: Account) -> None:
    """POST /v1/calls answers 201 with an id that GET /v1/calls/{id} resolves."""
    r = client.post(
        "/v1/calls",
        json={
            "agentId": account.agent_id,
            "recipient": {"phone": "+33612345670", "context": {"firstName": "Ada"}},
        },
        headers=account.headers,
    )
    assert r.status_code == 201, r.text
    call = r.json()
    assert call["status"] == "IN_PROGRESS" and call["phone"] == "+33612345670"
    assert (
        call["context"]["firstName"] == "Ada" and call["context"]["system.phone"] == "+33612345670"
    )
    got = client.get(f"/v1/calls/{call['id']}", headers=account.headers)
    assert got.status_code == 200 and got.json()["id"] == call["id"]
    second = client.post(
        "/v1/calls",
        json={"agentId": account.agent_id, "recipient": {"phone": "+33612345671"}},
        headers=account.headers,
    )
    assert second.json()["campaignId"] == call["campaignId"]  # one hidden campaign per agent


def test_direct_call_validation(client, account: Account, inbound_agent: str) -> None:
    """A bad phone or an inbound agent is a 400 naming the field."""
    r = client.post(
        "/v1/calls",
        json={"agentId": account.agent_id, "recipient": {"phone": "12"}},
        headers=account.headers,
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "recipient.phone"
    r = client.post(
        "/v1/calls",
        json={"agentId": inbound_agent, "recipient": {"phone": "+33612345670"}},
        headers=account.headers,
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "agentId"


def test_calls_list_filters_and_sort_validation(client, account: Account) -> None:
    """The list answers a page; from and to go together; sort is checked."""
    r = client.get("/v1/calls", headers=account.headers)
    assert r.status_code == 200 and r.json()["totalElements"] == 0
    assert (
        client.get("/v1/calls", params={"from": "2026-06-01"}, headers=account.headers).status_code
        == 400
    )
    assert (
        client.get("/v1/calls", params={"sort": "cost,DESC"}, headers=account.headers).status_code
        == 400
    )
    ok = client.get(
        "/v1/calls",
        params={"from": "2026-06-01", "to": "2026-06-02", "sort": "created,ASC"},
        headers=account.headers,
    )
    assert ok.status_code == 200


def test_unknown_call_and_route(client, account: Account, other_account: Account) -> None:
    """Unknown ids, other accounts' ids and unknown paths are 404 ErrorResponses."""
    r = client.post(
        "/v1/calls",
        json={"agentId": account.agent_id, "recipient": {"phone": "+33612345670"}},
        headers=account.headers,
    )
    assert (
        client.get(f"/v1/calls/{r.json()['id']}", headers=other_account.headers).status_code == 404
    )
    assert client.get("/v1/calls/nope/transcript", headers=account.headers).status_code == 404
    missing = client.get("/v1/nowhere", headers=account.headers)
    assert missing.status_code == 404 and missing.json()["status"] == 404
