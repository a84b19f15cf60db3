"""Connections as a client registers them, and the gateway each one's calls go out through."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import standardwebhooks

from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.routing import Route
from ringcast.dispatch import runner
from ringcast.gateways.http import CALLBACK_PATH
from ringcast.services import connections
from ringcast.signing import new_secret as new_signing_secret
from tests.support import always_open_campaign, serving

from .conftest import Account
from .test_http_gateway import Runtime, signed

BASE = "/ringcast/v1/connections"


def test_register_list_replace_and_forget_a_connection(
    client, account: Account, other_account: Account
) -> None:
    """A connection is registered, replaced in place, listed per organization and removed, and its
    secret is never shown."""
    body = {
        "name": "Paris trunk",
        "gateway": "http",
        "caller_numbers": ["+33 1 86 95 00 00"],
        "max_attempts_per_second": 5,
        "max_concurrent": 20,
        "http": {"url": "https://runtime.example.com", "secret": "s" * 32},
    }
    r = client.put(f"{BASE}/trunk-1", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    shown = r.json()
    assert shown["connection_id"] == "trunk-1" and shown["caller_numbers"] == ["+33186950000"]
    assert shown["http"] == {"url": "https://runtime.example.com", "secret_set": True}
    assert "s" * 32 not in r.text  # the secret is never given back
    again = client.put(
        f"{BASE}/trunk-1", json={**body, "max_concurrent": 30}, headers=account.headers
    )
    assert again.status_code == 200 and again.json()["max_concurrent"] == 30
    assert again.json()["created_at"] == shown["created_at"]
    sim = client.put(
        f"{BASE}/sim-1",
        json={"simulator": {"outcomes": "answered=0.5,busy=0.5", "durations": "lognormal"}},
        headers=account.headers,
    )
    assert sim.status_code == 201 and sim.json()["simulator"]["durations"] == "lognormal"
    listed = client.get(BASE, headers=account.headers).json()["connections"]
    assert [c["connection_id"] for c in listed] == ["sim-1", "trunk-1"]
    assert client.get(BASE, headers=other_account.headers).json() == {"connections": []}
    assert client.get(f"{BASE}/trunk-1", headers=other_account.headers).status_code == 404
    assert client.delete(f"{BASE}/trunk-1", headers=account.headers).status_code == 204
    assert client.get(f"{BASE}/trunk-1", headers=account.headers).status_code == 404
    assert client.delete(f"{BASE}/trunk-1", headers=account.headers).status_code == 404


def test_bad_connections_are_refused_naming_the_field(client, account: Account) -> None:
    """Each invalid connection setting is a 422 naming its field, nothing is stored, and a refused
    secret is not echoed."""
    cases = [
        ({"gateway": "carrier-pigeon"}, "gateway"),
        ({"max_attempts_per_second": 0}, "max_attempts_per_second"),
        ({"max_attempts_per_second": 10_000}, "max_attempts_per_second"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"caller_numbers": ["12"]}, "caller_numbers.0"),
        ({"simulator": {"outcomes": "answered=lots"}}, "simulator.outcomes"),
        ({"simulator": {"durations": "gamma"}}, "simulator.durations"),
        ({"gateway": "http"}, "http"),
        (
            {"gateway": "http", "http": {"url": "ftp://x.example.com", "secret": "s" * 20}},
            "http.url",
        ),
        (
            {"gateway": "http", "http": {"url": "https://x.example.com", "secret": "short"}},
            "http.secret",
        ),
    ]
    for body, field in cases:
        r = client.put(f"{BASE}/bad", json=body, headers=account.headers)
        assert r.status_code == 422, (body, r.text)
        (error,) = r.json()["detail"]
        assert ".".join(str(x) for x in error["loc"][1:]) == field, (field, r.text)
    r = client.put(
        f"{BASE}/bad",
        json={"gateway": "http", "http": {"url": "https://x.example.com", "secret": "hunter2"}},
        headers=account.headers,
    )
    assert "hunter2" not in r.text  # a refused secret is not echoed either
    assert client.get(f"{BASE}/bad", headers=account.headers).status_code == 404


def test_each_connection_dials_through_its_own_gateway(runtime, clock, client) -> None:
    """One campaign, two routes: an http connection (its own runtime, URL and secret)
    and a simulator connection whose mix says busy; an unregistered route goes out
    through the deployment's simulator. The runtime's report, signed with its
    connection's secret, is accepted without any deployment-wide gateway secret."""
    secret = new_signing_secret()
    runtime.settings.webhooks_allow_private = True  # the runtime below is on loopback
    runtime.settings.simulator_outcomes = "no_answer=1"
    runtime.settings.simulator_ring_s = 0.01
    Runtime.mode, Runtime.received, Runtime.states = "ok", [], {}
    phones = [f"+3361234{i:04d}" for i in range(30)]
    routes = [Route("own-runtime", ()), Route("always-busy", ()), Route("unregistered", ())]
    campaign = always_open_campaign(
        runtime.store, clock, phones, PacingLimits(attempts_per_second=100), routes=routes
    )
    with serving(Runtime) as url:
        for connection_id, request in [
            (
                "own-runtime",
                connections.ConnectionRequest(gateway="http", http={"url": url, "secret": secret}),
            ),
            (
                "always-busy",
                connections.ConnectionRequest(simulator={"outcomes": "busy=1", "ring_s": 0.01}),
            ),
        ]:
            runtime.store.put_connection(
                connections.checked(campaign.org_id, connection_id, request, clock.now())
            )
        dispatcher = runner.build(runtime, clock)

        async def one_pass() -> None:
            await dispatcher.step()
            await dispatcher.drain()
            await dispatcher.gateway.drain()

        asyncio.run(one_pass())
    attempts = runtime.store.campaign_attempts(campaign.id)
    assert len(attempts) == 30
    by_route = {a.id: a.connection_id for a in attempts}
    outcomes = Counter((a.connection_id, a.outcome) for a in attempts)
    assert set(by_route.values()) == {"own-runtime", "always-busy", "unregistered"}
    assert outcomes[("always-busy", Outcome.BUSY)] == sum(
        1 for c in by_route.values() if c == "always-busy"
    )
    assert outcomes[("unregistered", Outcome.NO_ANSWER)] == sum(
        1 for c in by_route.values() if c == "unregistered"
    )
    sent = [standardwebhooks.Webhook(secret).verify(body, h) for h, body in Runtime.received]
    assert sorted(r["attempt_id"] for r in sent) == sorted(
        a for a, c in by_route.items() if c == "own-runtime"
    )
    assert {r["connection_id"] for r in sent} == {"own-runtime"}
    runtime.settings.http_gateway_secret = None
    first = sent[0]["attempt_id"]
    done = {"attempt_id": first, "event": "failed", "reason": "busy"}
    body, headers = signed(done, secret)
    assert client.post(CALLBACK_PATH, content=body, headers=headers).status_code == 204
    assert client.post(CALLBACK_PATH, content=body, headers=headers).status_code == 204
    counted = client.get("/metrics").text
    assert 'ringcast_attempts_total{outcome="busy"} 1.0' in counted  # the repeat is not
    body, headers = signed(done, new_signing_secret())
    assert client.post(CALLBACK_PATH, content=body, headers=headers).status_code == 401
    (ended,) = [a for a in runtime.store.campaign_attempts(campaign.id) if a.id == first]
    assert ended.outcome is Outcome.BUSY and ended.ended_at is not None
    assert timedelta(0) <= ended.ended_at - clock.now() < timedelta(minutes=1)
