"""Hostile input into every operation of every surface: never a 5xx, always the surface's
error shape, never a huge error body.

The corpus holds what schemathesis does not try by itself: lone UTF-16 surrogates, NUL
bytes, integers beyond 32 and 64 bits, NaN and Infinity, dates at year 1 and 9999, deep
nesting, huge strings. Each value goes into every path parameter, every query parameter,
every leaf of a valid body (for the operations we hold one for) and, for the rest, every
leaf of a body schemathesis generated. Runs on SQLite and PostgreSQL (NUL bytes, column
overflows and extreme dates are PostgreSQL's failures).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.core.outcomes import Outcome
from ringcast.gateways.http import CALLBACK_PATH
from ringcast.runtime import Runtime
from ringcast.services import accounts

from . import test_http_gateway as http_gateway
from .conftest import Account
from .test_sarvam_campaigns import body as sarvam_campaign_body
from .test_volubile_campaigns import valid_body as volubile_campaign_body

#: No error body may be larger than this, whatever the input (an excerpt, not an echo).
MAX_ERROR_BYTES = 16_384


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": [value]}
    return value


#: Values put in place of one leaf of a body (serialised with json.dumps, so NaN and
#: Infinity are written as the bare tokens and "\ud800" as its escape).
LEAVES: list[Any] = [
    "\ud800",
    "a\udfffb",
    "nul\x00byte",
    2**31,
    2**63,
    -(2**63) - 1,
    10**40,
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1,
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "x" * 20_000,
    _nested(300),
    [],
    {},
    None,
]

#: Whole bodies, as bytes, for every operation that takes a JSON body.
RAW_BODIES: list[bytes] = [
    b'"\\ud800"',
    b'{"name": "\\ud800"}',
    b'{"a": NaN}',
    b'{"a": Infinity, "b": -Infinity}',
    b'{"a": "\\u0000"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"1" * 10_000,
    b"\xff\xfe not utf-8",
    b"not json at all",
    b"[]",
    b"null",
    b"1e999999",
]

#: Values put in place of one query parameter.
QUERIES = [
    "a\x00b",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+00:00",
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    "NaN",
    "Infinity",
    "-1",
    "x" * 5_000,
]

#: Values put in place of one path parameter (already percent-encoded where needed).
PATHS = ["%00", "a%00b", "x" * 3_000, "%ED%A0%80", "..", "%20"]


def surface_of(path: str) -> str:
    if path.startswith("/v1"):
        return "volubile"
    if path.startswith("/api/scheduling"):
        return "sarvam"
    return "native"


def shape_problem(path: str, status: int, raw: bytes) -> str | None:
    """What is wrong with an error answer, or None when it is a 4xx in the surface's shape."""
    if status >= 500:
        return f"{status}"
    if status < 400:
        return None
    if len(raw) > MAX_ERROR_BYTES:
        return f"{status} with a {len(raw)}-byte body"
    try:
        body = json.loads(raw)
    except ValueError:
        return f"{status} with a body that is not JSON: {raw[:80]!r}"
    if not isinstance(body, dict):
        return f"{status} with {body!r:.80}"
    if "b'" in raw.decode() or 'b\\"' in raw.decode():
        return f"{status} echoing a bytes repr: {raw[:200]!r}"
    if surface_of(path) == "volubile":
        if not (body.get("status") == status and "timestamp" in body and "message" in body):
            return f"{status} not an ErrorResponse: {raw[:200]!r}"
        for e in body.get("errors") or []:
            if not ("field" in e and "message" in e):
                return f"{status} with a malformed errors[]: {raw[:200]!r}"
        return None
    detail = body.get("detail")
    if isinstance(detail, str):
        return None
    if isinstance(detail, list) and all(
        isinstance(d, dict) and {"loc", "msg", "type"} <= d.keys() for d in detail
    ):
        return None
    return f"{status} not FastAPI's error shape: {raw[:200]!r}"


def leaf_paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where each leaf (and each container) of a JSON value sits."""
    if at:
        yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaf_paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaf_paths(v, (*at, i))


def replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    head, rest = at[0], at[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    out = list(value)
    out[head] = replaced(value[head], rest, new)
    return out


class Prober:
    """Sends requests and keeps what each one did wrong."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.problems: list[str] = []
        self.sent = 0

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        what: str = "",
    ) -> None:
        headers = dict(self.headers)
        if content is not None:
            headers["content-type"] = "application/json"
        self.sent += 1
        r = self.client.request(method, path, params=params, content=content, headers=headers)
        problem = shape_problem(path, r.status_code, r.content)
        if problem:
            self.problems.append(f"{method} {path[:120]} {what[:120]}: {problem}")

    def json_body(self, method: str, path: str, body: Any, what: str) -> None:
        self.send(method, path, content=json.dumps(body).encode(), what=what)


def operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    doc = app.openapi()
    return [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if path not in ("/metrics", "/healthz", "/openapi.json")
    ]


def _is_date(parameter: dict[str, Any]) -> bool:
    schema = parameter.get("schema", {})
    formats = {s.get("format") for s in [schema, *schema.get("anyOf", [])]}
    return parameter["in"] == "query" and bool(formats & {"date", "date-time"})


def takes_json(op: dict[str, Any]) -> bool:
    return "application/json" in (op.get("requestBody") or {}).get("content", {})


@pytest.fixture
def app(runtime: Runtime, clock: VirtualClock) -> FastAPI:
    """The app with a rate limit and a live-campaign limit no corpus reaches (a 429 or a
    409 would hide what is behind them)."""
    runtime.settings.rate_limit_requests = 10**9
    runtime.settings.sarvam_max_live_campaigns = 10**6
    return create_app(runtime, clock)


@pytest.fixture
def world(client: TestClient, account: Account, clock) -> dict[str, str]:
    """Real ids to put in paths, so hostile values reach past the lookups."""
    r = client.post(
        "/v1/campaigns", json=volubile_campaign_body(account.agent_id), headers=account.headers
    )
    assert r.status_code == 201, r.text
    base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    s = client.post(
        f"{base}/campaigns",
        json=sarvam_campaign_body(account, clock, webhook_config=None),
        headers=account.headers,
    )
    assert s.status_code == 201, s.text
    return {
        "org_id": account.org_id,
        "workspace_id": account.workspace_id,
        "campaign_id": s.json()["campaign_id"],
        "id": r.json()["id"],
        "agent_id": account.agent_id,
        "connection_id": "sim-1",
    }


def fill(path: str, ids: dict[str, str], hostile: tuple[str, str] | None = None) -> str:
    out = path
    for name in [p[1:-1] for p in path.split("/") if p.startswith("{")]:
        value = ids.get(name, "unknown")
        if hostile is not None and hostile[0] == name:
            value = hostile[1]
        out = out.replace("{" + name + "}", value)
    return out


def valid_bodies(account: Account, clock) -> dict[tuple[str, str], Any]:
    """A valid body for the operations worth reaching deep into."""
    start = clock.now() + timedelta(hours=1)
    return {
        ("POST", "/v1/campaigns"): volubile_campaign_body(account.agent_id),
        ("POST", "/v1/calls"): {
            "agentId": account.agent_id,
            "recipient": {"phone": "+33612345678", "context": {"firstName": "Ada"}},
        },
        ("POST", "/v1/campaigns/{id}/status"): "PAUSED",
        ("PATCH", "/v1/agents/{id}"): {"name": "Desk", "active": True},
        ("POST", "/v1/auth/token"): {"scope": ["calls:read"]},
        (
            "POST",
            "/api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns",
        ): sarvam_campaign_body(account, clock, webhook_config=None),
        (
            "PATCH",
            "/api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}",
        ): {
            "name": "renamed",
            "description": "d",
            "end_timestamp": (start + timedelta(days=3)).isoformat(),
        },
        (
            "POST",
            "/api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}/campaigns/{campaign_id}"
            "/cohorts/stream",
        ): {
            "name": "c1",
            "users": [
                {
                    "user_phone_number": "+919876543210",
                    "user_identifier": "u1",
                    "app_variables": {"name": "A"},
                }
            ],
        },
        ("PUT", "/ringcast/v1/account/webhook"): {
            "url": "https://hooks.example.com/calls",
            "secret": "s" * 32,
        },
        ("POST", "/ringcast/v1/campaigns/{campaign_id}/forecast"): {
            "outcomes": "answered=0.5,no_answer=0.5",
            "seed": 1,
            "until": (start + timedelta(days=2)).isoformat(),
        },
        ("PUT", "/ringcast/v1/account/calling-policy"): {"policy": "fr"},
        ("PUT", "/ringcast/v1/campaigns/{campaign_id}/compliance"): {
            "policy": "in",
            "predial": {"url": "https://hooks.example.com/ok", "timeout_ms": 500},
        },
        ("POST", "/ringcast/v1/do-not-call"): {"phones": ["+33612345678"]},
        ("PUT", "/ringcast/v1/connections/{connection_id}"): {
            "name": "sim",
            "gateway": "simulator",
            "caller_numbers": ["+33612345678"],
            "max_attempts_per_second": 2,
            "max_concurrent": 4,
            "caller_number_max_per_hour": 10,
            "caller_number_max_per_day": 100,
            "simulator": {"outcomes": "answered=1", "talk_s": 30, "ring_s": 5, "seed": 3},
        },
        ("PUT", "/ringcast/v1/campaigns/{campaign_id}/voicemail"): {
            "action": "leave_message",
            "message_text": "Call us back",
            "retry_on_voicemail": True,
            "retry_on_rejected": False,
        },
    }


def test_hostile_values_in_every_place_are_4xx_in_the_surface_shape(
    client: TestClient, app, account: Account, clock, world: dict[str, str]
) -> None:
    """Every operation, fed the corpus in each path parameter, each query parameter, as a
    whole body and in each leaf of a valid body, answers below 500, in its surface's error
    shape and with a bounded body."""
    probe = Prober(client, account.headers)
    templates = valid_bodies(account, clock)
    for method, path, op in operations(app):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        queries = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        for name in names:
            for value in PATHS:
                probe.send(method, fill(path, world, (name, value)), what=f"path {name}")
        dates = [p["name"] for p in op.get("parameters", []) if _is_date(p)]
        for value in QUERIES:
            for name in queries:
                probe.send(method, fill(path, world), params={name: value}, what=f"query {name}")
            if dates:  # date parameters that only count together (from and to)
                both = dict.fromkeys(dates, value)
                probe.send(method, fill(path, world), params=both, what=f"dates {dates}")
        if not takes_json(op):
            continue
        for raw in RAW_BODIES:
            probe.send(method, fill(path, world), content=raw, what=f"body {raw[:30]!r}")
        template = templates.get((method, path))
        if template is None:
            continue
        for at in leaf_paths(template):
            for value in LEAVES:
                probe.json_body(
                    method,
                    fill(path, world),
                    replaced(template, at, value),
                    what=f"{at} = {value!r:.40}",
                )
    assert not probe.problems, "\n".join(probe.problems[:60])


def _mutations() -> st.SearchStrategy[Any]:
    return st.sampled_from(LEAVES)


def test_schemathesis_bodies_with_one_hostile_leaf(
    client: TestClient, app, account: Account, world: dict[str, str]
) -> None:
    """Bodies schemathesis generates for every JSON operation, one leaf swapped for a
    hostile value, are 4xx in the surface's shape, never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    probe = Prober(client, account.headers)
    labels = [f"{method} {path}" for method, path, op in operations(app) if takes_json(op)]
    strategies = [schema.find_operation_by_label(label).as_strategy() for label in labels]

    @given(case=st.one_of(strategies), data=st.data())
    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case, data: st.DataObject) -> None:
        body = case.body
        spots = list(leaf_paths(body)) or [()]
        at = data.draw(st.sampled_from(spots))
        value = data.draw(_mutations())
        path = fill(case.operation.path, world)
        probe.json_body(case.method.upper(), path, replaced(body, at, value), f"{at}")

    run()
    assert probe.sent == 300
    assert not probe.problems, "\n".join(probe.problems[:60])


# --- each defect the corpus found, pinned down --------------------------------------------


def test_a_nul_in_a_path_or_query_is_refused_naming_it(client, account: Account) -> None:
    """``GET /v1/campaigns/%00`` and a NUL in a query are 400s naming the path or the
    parameter (PostgreSQL's text cannot hold a NUL: they were 500s); Sarvam says 422."""
    r = client.get("/v1/campaigns/%00", headers=account.headers)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "path"
    r = client.get("/v1/calls", params={"phone": "+33\x00"}, headers=account.headers)
    assert r.status_code == 400
    assert r.json()["errors"][0] == {
        "field": "phone",
        "rejectedValue": "+33\x00",
        "message": "text may not contain NUL characters (\\u0000)",
    }
    base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    r = client.get(f"{base}/campaigns", params={"search": "a\x00"}, headers=account.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "search"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"name": "\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"batchSize": NaN}', "NaN is not a JSON number"),
        (b'{"batchSize": Infinity}', "Infinity is not a JSON number"),
        (b'{"name": "a\\u0000"}', "NUL"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than 32 levels"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
    ],
)
def test_json_no_store_can_hold_is_refused_on_every_surface(
    client, account: Account, raw: bytes, reason: str
) -> None:
    """Lone surrogates, NaN, Infinity, NUL and deep nesting are refused naming ``body``:
    a 400 ErrorResponse on Volubile, a 422 ``detail[]`` on Sarvam and the native API."""
    headers = {**account.headers, "content-type": "application/json"}
    r = client.post("/v1/campaigns", content=raw, headers=headers)
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["field"] == "body" and reason in error["message"]
    base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    for path in (f"{base}/campaigns", "/ringcast/v1/do-not-call"):
        r = client.post(path, content=raw, headers=headers)
        assert r.status_code == 422
        (detail,) = r.json()["detail"]
        assert detail["loc"] == ["body"] and reason in detail["msg"]


def test_dates_and_integers_beyond_what_is_stored_are_refused(
    client, account: Account, clock
) -> None:
    """Year 1 and 9999 dates, and integers beyond a 32-bit column, are 4xx naming the
    field (``to=9999-12-31`` overflowed; 2^31 overflowed PostgreSQL's INTEGER)."""
    r = client.get(
        "/v1/calls", params={"from": "2026-01-01", "to": "9999-12-31"}, headers=account.headers
    )
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["to"]
    r = client.get(
        "/v1/calls", params={"from": "0001-01-01", "to": "2026-01-01"}, headers=account.headers
    )
    assert r.status_code == 400
    body = volubile_campaign_body(account.agent_id)
    body["retry"] = {"max": 1, "delay": 70_000_000, "retryOn": ["NO_ANSWER"]}
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "retry.delay"
    r = client.put(
        "/ringcast/v1/connections/sim-1",
        json={"gateway": "simulator", "max_concurrent": 2**31},
        headers=account.headers,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "max_concurrent"]
    base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    late = sarvam_campaign_body(account, clock, end_timestamp="9999-12-31T23:59:59+00:00")
    r = client.post(f"{base}/campaigns", json=late, headers=account.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "end_timestamp"]


def test_a_text_body_error_shows_text_not_a_bytes_repr(client, account: Account) -> None:
    """A body sent as text/plain is refused quoting its text, never ``b'...'``."""
    headers = {**account.headers, "content-type": "text/plain"}
    r = client.post("/v1/campaigns", content=b"hello there", headers=headers)
    assert r.status_code == 400
    assert r.json()["errors"][0]["rejectedValue"] == "hello there"
    assert "b'" not in r.text


def test_an_error_echoes_a_bounded_excerpt_of_a_huge_body(client, account: Account) -> None:
    """60,000 bad recipients and a 100,000-character name, just under the body limit, get a
    small 400: the first errors, each value an excerpt (a 1,000,000-recipient body produced
    a 25 MB answer; such a body is now refused whole with 413 before it is read)."""
    body = volubile_campaign_body(account.agent_id)
    body["recipients"] = [{"phone": "not a phone", "context": {"n": i}} for i in range(60_000)]
    body["name"] = "n" * 100_000
    assert len(json.dumps(body)) < 4 * 1024 * 1024  # the default body limit
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 400
    assert len(r.content) < MAX_ERROR_BYTES
    errors = r.json()["errors"]
    assert 0 < len(errors) <= 50
    assert all(len(json.dumps(e["rejectedValue"])) < 300 for e in errors)
    body["recipients"] *= 20  # past the body limit: refused before it is read
    assert client.post("/v1/campaigns", json=body, headers=account.headers).status_code == 413


def test_campaign_retry_is_filled_as_the_seed_types_it(client, account: Account) -> None:
    """A campaign created without retry shows ``{"max": 0, "delay": 1, "retryOn": []}``,
    never nulls (the seed types all three as non-nullable)."""
    body = volubile_campaign_body(account.agent_id)
    del body["retry"]
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201
    assert r.json()["retry"] == {"max": 0, "delay": 1, "retryOn": []}
    got = client.get(f"/v1/campaigns/{r.json()['id']}", headers=account.headers)
    assert got.json()["retry"] == {"max": 0, "delay": 1, "retryOn": []}
    body["retry"] = {"max": 0}
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.json()["retry"] == {"max": 0, "delay": 1, "retryOn": []}


def test_uuids_in_paths_are_case_insensitive(client, account: Account, clock) -> None:
    """A campaign id (and org and workspace ids) written in upper case name the same
    campaign; the answer carries the id as ringcast wrote it."""
    r = client.post(
        "/v1/campaigns", json=volubile_campaign_body(account.agent_id), headers=account.headers
    )
    cid = r.json()["id"]
    got = client.get(f"/v1/campaigns/{cid.upper()}", headers=account.headers)
    assert got.status_code == 200 and got.json()["id"] == cid
    paused = client.post(
        f"/v1/campaigns/{cid.upper()}/status", json="PAUSED", headers=account.headers
    )
    assert paused.status_code == 200 and paused.json()["status"] == "PAUSED"
    base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    made = client.post(
        f"{base}/campaigns", json=sarvam_campaign_body(account, clock), headers=account.headers
    ).json()
    upper = f"{base.upper().replace('/API/SCHEDULING/V1/ORGS', '/api/scheduling/v1/orgs')}"
    upper = upper.replace("/WORKSPACES/", "/workspaces/")
    got = client.get(f"{upper}/campaigns/{made['campaign_id'].upper()}", headers=account.headers)
    assert got.status_code == 200 and got.json()["campaign_id"] == made["campaign_id"]


runtime_url = http_gateway.runtime_url


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_s": 1e300}, "duration_s"),
        ({"duration_s": -5}, "duration_s"),
        ({"duration_s": math.nan}, "duration_s"),
        ({"duration_s": math.inf}, "duration_s"),
        ({"at": "9999-12-31T23:59:59+00:00"}, "at"),
        ({"answered_at": "0001-01-01T00:00:00+00:00"}, "answered_at"),
        ({"transcript": [1, "two", None]}, "transcript"),
    ],
)
def test_a_malformed_signed_report_is_a_422_and_still_ends_the_call(
    runtime, clock, client, account: Account, runtime_url, change: dict[str, Any], field: str
) -> None:
    """A runtime's signed ``completed`` report with a huge, negative or NaN duration, a
    year-9999 time or transcript entries that are not objects is a 422 naming the field;
    the call still ends (it stayed in progress) and its transcript endpoint answers."""
    campaign, _ = http_gateway.dial_once(runtime, clock, runtime_url)
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    report = {"attempt_id": attempt.id, "event": "completed", "duration_s": 30, **change}
    body, headers = http_gateway.signed(report)
    r = client.post(CALLBACK_PATH, content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert [d["loc"] for d in r.json()["detail"]] == [["body", field]]
    call = runtime.store.get_call(attempt.id)
    assert call.attempt.outcome is Outcome.COMPLETED
    acme = accounts.issue_key(runtime.store, clock, "acme").plaintext
    transcript = client.get(f"/v1/calls/{attempt.id}/transcript", headers={"X-Api-Key": acme})
    assert transcript.status_code == 200 and transcript.json() == []


def test_the_transcript_endpoint_serves_whatever_a_runtime_stored(
    runtime, clock, client, runtime_url
) -> None:
    """Entries in a runtime's own shape (``{"role", "text"}``) are served in Volubile's
    shape; the endpoint never fails on what is stored."""
    campaign, _ = http_gateway.dial_once(runtime, clock, runtime_url)
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    said = [{"role": "agent", "text": "Hello"}, {"role": "user", "text": "Hi"}, {"odd": 1}]
    report = {"attempt_id": attempt.id, "event": "completed", "transcript": said}
    body, headers = http_gateway.signed(report)
    assert client.post(CALLBACK_PATH, content=body, headers=headers).status_code == 204
    acme = accounts.issue_key(runtime.store, clock, "acme").plaintext
    r = client.get(f"/v1/calls/{attempt.id}/transcript", headers={"X-Api-Key": acme})
    assert r.status_code == 200
    assert r.json() == [
        {"action": "AGENT_SPEAK", "time": "", "actor": "AGENT", "message": "Hello"},
        {"action": "HUMAN_SPEAK", "time": "", "actor": "HUMAN", "message": "Hi"},
        {"action": "HUMAN_SPEAK", "time": "", "actor": "UNKNOWN", "message": None},
    ]
