"""Volubile authentication: API keys, bearer tokens, scopes, and the per-account rate limit."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from ringcast.api.auth import ALL_SCOPES

from .conftest import Account
from .test_volubile_campaigns import valid_body


def token(client, account: Account, scopes: list[str]) -> str:
    r = client.post("/v1/auth/token", json={"scope": scopes}, headers=account.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expiresIn"] == 900 and body["tokenType"] == "Bearer"
    return body["token"]


def bearer(t: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {t}"}


#: (method, path, body, scope it needs)
ENDPOINTS = [
    ("POST", "/v1/campaigns", "campaign", "campaigns:write"),
    ("GET", "/v1/campaigns/{cid}", None, "campaigns:read"),
    ("POST", "/v1/campaigns/{cid}/status", "PAUSED", "campaigns:write"),
    ("GET", "/v1/agents", None, "agents:read"),
    ("GET", "/v1/agents/{agent}", None, "agents:read"),
    ("PATCH", "/v1/agents/{agent}", {"recordable": True}, "agents:write"),
    ("GET", "/v1/calls", None, "calls:read"),
    ("POST", "/v1/calls", "call", "calls:write"),
]


def _request(client, account: Account, cid: str, method: str, path: str, body, headers):
    url = path.format(cid=cid, agent=account.agent_id)
    if body == "campaign":
        body = valid_body(account.agent_id)
    elif body == "call":
        body = {"agentId": account.agent_id, "recipient": {"phone": "+33612345670"}}
    return client.request(method, url, json=body, headers=headers)


@pytest.fixture
def cid(client, account: Account) -> str:
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    return r.json()["id"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS)
def test_scope_matrix(client, account: Account, cid: str, method, path, body, scope) -> None:
    """Each endpoint works with its scope, 403s without it, and 401s with no credential."""
    allowed = token(client, account, [scope])
    others = token(client, account, sorted(ALL_SCOPES - {scope}))
    assert _request(client, account, cid, method, path, body, bearer(allowed)).status_code < 300
    denied = _request(client, account, cid, method, path, body, bearer(others))
    assert denied.status_code == 403 and denied.json()["status"] == 403
    assert scope in denied.json()["message"]
    anonymous = _request(client, account, cid, method, path, body, {})
    assert anonymous.status_code == 401 and anonymous.json()["status"] == 401
    assert _request(client, account, cid, method, path, body, account.headers).status_code < 300


def test_a_token_cannot_mint_a_token(client, account: Account) -> None:
    """Only an API key may call /v1/auth/token."""
    t = token(client, account, ["campaigns:read"])
    r = client.post("/v1/auth/token", json={"scope": ["campaigns:read"]}, headers=bearer(t))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "body", [{"scope": []}, {"scope": ["calls:delete"]}, {}, {"scope": "calls:read"}]
)
def test_token_request_must_name_known_scopes(client, account: Account, body) -> None:
    """An empty, unknown or malformed scope list is a 400."""
    r = client.post("/v1/auth/token", json=body, headers=account.headers)
    assert r.status_code == 400 and r.json()["errors"][0]["field"].startswith("scope")


def _forge(claims: dict, alg_header: dict) -> str:
    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64(alg_header)}.{b64(claims)}."


def test_bad_tokens_are_401(client, account: Account, clock) -> None:
    """Expired, unsigned (alg none), wrongly signed and garbage tokens are all refused."""
    good = token(client, account, ["agents:read"])
    claims = jwt.decode(good, options={"verify_signature": False})
    cases = {
        "alg none": _forge(claims, {"alg": "none", "typ": "JWT"}),
        "other key": jwt.encode(
            claims,
            "a-secret-that-is-not-ours-but-long-enough-for-hs512-0123456789abcdef",
            algorithm="HS256",
        ),
        "HS512": jwt.encode(
            claims,
            "a-secret-that-is-not-ours-but-long-enough-for-hs512-0123456789abcdef",
            algorithm="HS512",
        ),
        "garbage": "abc.def.ghi",
        "not bearer": None,
    }
    for name, t in cases.items():
        headers = {"Authorization": f"Basic {good}"} if t is None else bearer(t)
        r = client.get("/v1/agents", headers=headers)
        assert r.status_code == 401, name
        assert r.headers.get("WWW-Authenticate") == "Bearer"
    assert client.get("/v1/agents", headers=bearer(good)).status_code == 200
    clock.advance(timedelta(seconds=901))
    expired = client.get("/v1/agents", headers=bearer(good))
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


def test_unknown_and_revoked_keys_are_401(client, runtime, account: Account, clock) -> None:
    """A key we never issued, a mangled one, and a revoked one (with its tokens) get 401."""
    t = token(client, account, ["agents:read"])
    for bad in ("rc_00000000_nope", account.key + "x", "hello"):
        assert client.get("/v1/agents", headers={"X-Api-Key": bad}).status_code == 401
    runtime.store.revoke_api_key(account.prefix, clock.now())
    assert client.get("/v1/agents", headers=account.headers).status_code == 401
    assert client.get("/v1/agents", headers=bearer(t)).status_code == 401


def test_disabled_account_is_401(client, runtime, account: Account) -> None:
    """A disabled account cannot use its keys."""
    with runtime.engine.begin() as conn:
        conn.exec_driver_sql("update organizations set disabled = true")
    assert client.get("/v1/agents", headers=account.headers).status_code == 401


def test_rate_limit(client, account: Account, other_account: Account, clock) -> None:
    """The 101st request in 15 seconds is a 429 with Retry-After; other accounts go on."""
    for i in range(100):
        r = client.get("/v1/agents", headers=account.headers)
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "100"
        assert r.headers["X-RateLimit-Remaining"] == str(99 - i)
    limited = client.get("/v1/agents", headers=account.headers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.json()["status"] == 429
    assert client.get("/v1/agents", headers=other_account.headers).status_code == 200
    clock.advance(timedelta(seconds=15))
    assert client.get("/v1/agents", headers=account.headers).status_code == 200


def test_rate_limit_is_configurable(runtime, clock, account: Account) -> None:
    """RINGCAST_RATE_LIMIT_REQUESTS sets the limit."""
    from fastapi.testclient import TestClient

    from ringcast.api.app import create_app

    runtime.settings = runtime.settings.model_copy(update={"rate_limit_requests": 3})
    with TestClient(create_app(runtime, clock)) as c:
        codes = [c.get("/v1/agents", headers=account.headers).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
