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
    runtime, client, account: Account, other_account: Account
) -> None:
    """A connection is registered, replaced in place, listed per organization and removed, and its
    secret is never shown."""
    runtime.settings.webhooks_allow_private = True  # runtime.example.com cannot be resolved here
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


TWILIO_TOKEN = "twilio-auth-token-kept-secret"
LIVEKIT_KEY, LIVEKIT_SECRET = "APIlivekitkey", "livekit-secret-kept-secret"
RETELL_KEY = "key_retell_kept_secret"
PROVIDERS: dict[str, dict[str, object]] = {
    "twilio": {
        "account_sid": "AC" + "0123456789abcdef" * 2,
        "auth_token": TWILIO_TOKEN,
        "answer_url": "https://agent.example.com/twiml",
        "twiml": None,
        "machine_detection": "DetectMessageEnd",
        "api_base_url": "http://127.0.0.1:9",
    },
    "livekit": {
        "url": "http://127.0.0.1:7880",
        "api_key": LIVEKIT_KEY,
        "api_secret": LIVEKIT_SECRET,
        "sip_trunk_id": "ST_trunk",
        "agent_name": "ringcast-agent",
        "ringing_timeout_s": 25,
        "max_call_duration_s": 900,
    },
    "retell": {
        "api_key": RETELL_KEY,
        "agent_id": "agent_123",
        "api_base_url": "http://127.0.0.1:9",
    },
}
SECRET_VALUES = (TWILIO_TOKEN, LIVEKIT_KEY, LIVEKIT_SECRET, RETELL_KEY)


def test_register_each_provider_connection_and_hide_its_secrets(
    runtime, client, account: Account
) -> None:
    """A twilio, livekit or retell connection is registered (201) and replaced (200); its block is
    stored flat with the dataclass's defaults, the caller-number caps under their own keys, and
    no GET ever shows a secret, only that it is set."""
    runtime.settings.webhooks_allow_private = True  # the base URLs point at loopback fakes
    for gateway, block in PROVIDERS.items():
        body = {
            "gateway": gateway,
            "caller_numbers": ["+33186950000"],
            "caller_number_max_per_hour": 30,
            "caller_number_max_per_day": 100,
            gateway: block,
        }
        r = client.put(f"{BASE}/{gateway}-1", json=body, headers=account.headers)
        assert r.status_code == 201, r.text
        again = client.put(
            f"{BASE}/{gateway}-1",
            json={**body, "caller_number_max_per_day": None},
            headers=account.headers,
        )
        assert again.status_code == 200, again.text
        shown = client.get(f"{BASE}/{gateway}-1", headers=account.headers).json()
        assert shown["gateway"] == gateway
        assert shown["caller_number_max_per_hour"] == 30
        assert shown["caller_number_max_per_day"] is None
        for name, value in block.items():
            if name in ("auth_token", "api_key", "api_secret"):
                assert shown[gateway][f"{name}_set"] is True and name not in shown[gateway]
            else:
                assert shown[gateway][name] == value, (gateway, name)
        stored = runtime.store.get_connection(account.org_id, f"{gateway}-1")
        assert {k: stored.settings[k] for k in block} == block  # flat, as the http gateway's
        assert stored.settings["caller_number_max_per_hour"] == 30
        assert "caller_number_max_per_day" not in stored.settings
    assert (
        client.get(f"{BASE}/twilio-1", headers=account.headers).json()["twilio"]["ring_timeout_s"]
        == 30
    )  # a field left out takes the settings dataclass's default
    listed = client.get(BASE, headers=account.headers).text
    assert not any(secret in listed for secret in SECRET_VALUES)


def test_bad_provider_settings_are_refused_naming_the_field_never_echoing_a_secret(
    runtime, client, account: Account
) -> None:
    """Each refused provider setting is a 422 naming ``<gateway>.<field>`` with the rejected
    value, except a secret, shown as ***; nothing is stored."""
    runtime.settings.webhooks_allow_private = True
    # (gateway, changes to its block (None: no block), extra body fields, field, echoed value)
    cases: list[tuple[str, dict[str, object] | None, dict[str, object], str, object]] = [
        ("twilio", None, {}, "twilio", None),
        ("twilio", {"account_sid": "AC12"}, {}, "twilio.account_sid", "AC12"),
        ("twilio", {"auth_token": 12345678}, {}, "twilio.auth_token", "***"),
        ("twilio", {"twiml": "<Response/>"}, {}, "twilio.answer_url", "https://agent.example.com/twiml"),
        ("twilio", {"machine_detection": "Maybe"}, {}, "twilio.machine_detection", "Maybe"),
        ("twilio", {"ring_timeout_s": 900}, {}, "twilio.ring_timeout_s", 900),
        ("twilio", {"api_base_url": "api.twilio.com"}, {}, "twilio.api_base_url", "api.twilio.com"),
        ("twilio", {"callback": "x"}, {}, "twilio.callback", "x"),
        ("livekit", {"api_secret": ""}, {}, "livekit.api_secret", ""),
        ("livekit", {"url": "ftp://lk"}, {}, "livekit.url", "ftp://lk"),
        ("livekit", {"ringing_timeout_s": 0}, {}, "livekit.ringing_timeout_s", 0),
        ("livekit", {"agent_join_timeout_s": "soon"}, {}, "livekit.agent_join_timeout_s", "soon"),
        ("retell", {"agent_id": None}, {}, "retell.agent_id", None),
        ("retell", {"api_key": ["k"]}, {}, "retell.api_key", "***"),
        ("retell", {}, {"caller_number_max_per_hour": 0}, "caller_number_max_per_hour", 0),
        ("retell", {}, {"caller_number_max_per_day": -5}, "caller_number_max_per_day", -5),
    ]  # fmt: skip
    for gateway, changes, extra, field, rejected in cases:
        body: dict[str, object] = {"gateway": gateway, **extra}
        if changes is not None:
            body[gateway] = {**PROVIDERS[gateway], **changes}
        r = client.put(f"{BASE}/bad", json=body, headers=account.headers)
        assert r.status_code == 422, (body, r.text)
        (error,) = r.json()["detail"]
        assert ".".join(str(x) for x in error["loc"][1:]) == field, (field, r.text)
        assert error["input"] == rejected, (field, r.text)
        assert not any(secret in r.text for secret in SECRET_VALUES), r.text
        assert "12345678" not in r.text
    assert client.get(f"{BASE}/bad", headers=account.headers).status_code == 404


def test_a_private_base_url_is_refused_unless_the_deployment_allows_it(
    runtime, client, account: Account
) -> None:
    """Every base URL a gateway calls (twilio's and retell's api_base_url, livekit's url, the http
    runtime's url) is refused on a loopback, private or unresolvable host, naming the field
    without saying how the name resolved; a public address, a provider's own default, or
    RINGCAST_WEBHOOKS_ALLOW_PRIVATE lets it through."""
    twilio, livekit, retell = PROVIDERS["twilio"], PROVIDERS["livekit"], PROVIDERS["retell"]
    cases = [
        ("twilio", {**twilio, "api_base_url": "http://127.0.0.1:4010"}, "api_base_url"),
        ("livekit", {**livekit, "url": "wss://192.168.1.20"}, "url"),
        ("retell", {**retell, "api_base_url": "https://nowhere.invalid"}, "api_base_url"),
        ("http", {"url": "https://10.1.2.3", "secret": "s" * 32}, "url"),
    ]
    for gateway, block, field in cases:
        body = {"gateway": gateway, gateway: block}
        r = client.put(f"{BASE}/{gateway}", json=body, headers=account.headers)
        assert r.status_code == 422, r.text
        (error,) = r.json()["detail"]
        assert error["loc"][1:] == [gateway, field] and error["input"] == block[field]
        assert error["msg"] == "must be a public address ringcast may reach"
        assert "resolve" not in r.text and "127.0.0.1 " not in r.text
    public = {"gateway": "retell", "retell": {**retell, "api_base_url": "https://93.184.215.14"}}
    assert client.put(f"{BASE}/public", json=public, headers=account.headers).status_code == 201
    default = {"gateway": "twilio", "twilio": {**twilio, "api_base_url": None}}
    r = client.put(f"{BASE}/default", json=default, headers=account.headers)
    assert r.status_code == 201 and r.json()["twilio"]["api_base_url"] == "https://api.twilio.com"
    runtime.settings.webhooks_allow_private = True
    for gateway, block, _ in cases:
        body = {"gateway": gateway, gateway: block}
        r = client.put(f"{BASE}/{gateway}", json=body, headers=account.headers)
        assert r.status_code == 201, r.text
