"""Settings that would fail a dial or an end later are refused when they are given: retry
delays and counts on the Volubile and Sarvam surfaces, simulator durations and seeds and
http runtime secrets on the native one, each a 4xx in the surface's own shape naming the
field, with nothing stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from .conftest import Account
from .test_sarvam_campaigns import _bad, base
from .test_sarvam_campaigns import body as sarvam_body
from .test_volubile_campaigns import campaign_count, valid_body

CONNECTIONS = "/ringcast/v1/connections"


@pytest.mark.parametrize(
    ("retry", "field", "rejected"),
    [
        ({"max": 2, "delay": 70_000_000, "retryOn": ["NO_ANSWER"]}, "retry.delay", 70_000_000),
        ({"max": 0, "delay": 70_000_000, "retryOn": []}, "retry.delay", 70_000_000),
        ({"max": 1, "delay": 169, "retryOn": ["NO_ANSWER"]}, "retry.delay", 169),
        ({"max": 10**30, "delay": 1, "retryOn": ["NO_ANSWER"]}, "retry.max", None),
    ],
    ids=["70M-hours", "70M-hours-with-max-0", "a-week-and-an-hour", "max-10^30"],
)
def test_volubile_refuses_retry_delays_and_counts_out_of_bounds(
    client, runtime, account: Account, retry: dict[str, Any], field: str, rejected: Any
) -> None:
    """A Volubile ``retry.delay`` beyond a week (168 hours), or a ``retry.max`` beyond 3, is
    a 400 ErrorResponse naming the field and value; no campaign is stored."""
    body = valid_body(account.agent_id)
    body["retry"] = retry
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 400, r.text
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert field in errors, r.text
    if rejected is not None:
        assert errors[field]["rejectedValue"] == rejected
    assert campaign_count(runtime) == 0


def test_volubile_accepts_a_delay_of_a_week(client, account: Account) -> None:
    """The bound itself is allowed: 168 hours."""
    body = valid_body(account.agent_id)
    body["retry"] = {"max": 1, "delay": 168, "retryOn": ["NO_ANSWER"]}
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text


RETRY = ["body", "app_config", "retry_config"]
SARVAM_CASES = [
    ("app_config.retry_config.retry_interval_minutes", 4.2e9, [*RETRY, "retry_interval_minutes"]),
    (
        "app_config.retry_config.retry_interval_minutes",
        [5, 1e300],
        [*RETRY, "retry_interval_minutes"],
    ),
    (
        "app_config.retry_config.retry_interval_minutes",
        [5] * 21,
        [*RETRY, "retry_interval_minutes"],
    ),
    ("app_config.retry_config.max_retries", 10**30, [*RETRY, "max_retries"]),
    (
        "app_config.retry_config.retry_on.provider_error",
        {"enabled": True, "max_retries": 2, "retry_interval_minutes": 1e12},
        [*RETRY, "retry_on", "provider_error", "retry_interval_minutes"],
    ),
    (
        "app_config.retry_config.retry_on.internal_error",
        {"enabled": True, "max_retries": 21, "retry_interval_minutes": 5},
        [*RETRY, "retry_on", "internal_error", "max_retries"],
    ),
    (
        "app_config.retry_config.retry_on.short_duration",
        {"enabled": True, "threshold_seconds": 1e300},
        [*RETRY, "retry_on", "short_duration", "threshold_seconds"],
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "loc"), SARVAM_CASES, ids=[f"{c[0][24:]}" for c in SARVAM_CASES]
)
def test_sarvam_refuses_retry_durations_and_counts_out_of_bounds(
    client, runtime, account: Account, clock, path: str, value: Any, loc: list[Any]
) -> None:
    """Each retry interval, budget and threshold beyond the core's bounds is a 422 whose
    ``detail[]`` points at the field, on create and on update; nothing is stored."""
    r = client.post(
        f"{base(account)}/campaigns",
        json=_bad(account, clock, path, value),
        headers=account.headers,
    )
    assert r.status_code == 422, r.text
    assert any(d["loc"] == loc for d in r.json()["detail"]), r.text
    assert campaign_count(runtime) == 0

    made = client.post(
        f"{base(account)}/campaigns", json=sarvam_body(account, clock), headers=account.headers
    )
    assert made.status_code == 201, made.text
    campaign_id = made.json()["campaign_id"]
    before = runtime.store.get_campaign(campaign_id).config.retry
    bad = _bad(account, clock, path, value)
    r = client.patch(
        f"{base(account)}/campaigns/{campaign_id}",
        json={"app_config": bad["app_config"]},
        headers=account.headers,
    )
    assert r.status_code == 422, r.text
    assert any(d["loc"] == loc for d in r.json()["detail"]), r.text
    assert runtime.store.get_campaign(campaign_id).config.retry == before


NATIVE_CASES = [
    ({"simulator": {"talk_s": 1e300}}, "simulator.talk_s", 1e300),
    ({"simulator": {"talk_s": 14_401}}, "simulator.talk_s", 14_401),
    ({"simulator": {"ring_s": 1e300}}, "simulator.ring_s", 1e300),
    ({"simulator": {"ring_s": 601}}, "simulator.ring_s", 601),
    ({"simulator": {"seed": 2**70}}, "simulator.seed", 2**70),
    ({"simulator": {"outcomes": "answered=1e400"}}, "simulator.outcomes", "answered=1e400"),
    ({"simulator": {"outcomes": "answered=nan"}}, "simulator.outcomes", "answered=nan"),
    (
        {
            "gateway": "http",
            "http": {"url": "https://x.example.com", "secret": "whsec_not base64, at all!!"},
        },
        "http.secret",
        None,
    ),
    (
        {"gateway": "http", "http": {"url": "https://x.example.com", "secret": "a" * 17}},
        "http.secret",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "field", "rejected"), NATIVE_CASES, ids=[str(c[0])[:40] for c in NATIVE_CASES]
)
def test_native_connections_refuse_settings_that_would_fail_every_dial(
    client, account: Account, body: dict[str, Any], field: str, rejected: Any
) -> None:
    """A simulator talk or ring time no call has, a seed beyond 64 bits, an outcome weight
    that is not a finite number, or an http runtime secret that is not base64 is a 422
    naming the field; the secret is never echoed and nothing is stored."""
    r = client.put(f"{CONNECTIONS}/bad", json=copy.deepcopy(body), headers=account.headers)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert ".".join(str(x) for x in error["loc"][1:]) == field, r.text
    if rejected is not None:
        assert error["input"] == rejected
    else:
        assert body["http"]["secret"] not in r.text
    assert client.get(f"{CONNECTIONS}/bad", headers=account.headers).status_code == 404


def test_native_connections_accept_a_base64_secret_and_bounded_durations(
    client, runtime, account: Account
) -> None:
    """The bounds themselves are allowed: a base64 secret, four hours of talk, ten minutes
    of ringing, a 64-bit seed."""
    runtime.settings.webhooks_allow_private = True  # the runtime's host is not looked up
    for body in (
        {"gateway": "http", "http": {"url": "https://x.example.com", "secret": "s" * 32}},
        {"simulator": {"talk_s": 14_400, "ring_s": 600, "seed": 2**63 - 1}},
    ):
        r = client.put(f"{CONNECTIONS}/ok", json=body, headers=account.headers)
        assert r.status_code in (200, 201), r.text
