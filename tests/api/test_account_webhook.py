"""The account webhook setting and its signature (delivery comes with dispatch)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys

from ringcast.webhooks import volubile

from .conftest import Account

SECRET = "s3cret-s3cret-s3cret-s3cret"


def test_set_get_and_clear(client, runtime, account: Account) -> None:
    """PUT sets the URL and secret; no response ever shows the secret; null clears it."""
    r = client.put(
        "/ringcast/v1/account/webhook",
        json={"url": "https://93.184.215.14/calls", "secret": SECRET},
        headers=account.headers,
    )
    assert r.status_code == 200 and r.json() == {
        "url": "https://93.184.215.14/calls",
        "signed": True,
    }
    assert SECRET not in r.text
    got = client.get("/ringcast/v1/account/webhook", headers=account.headers)
    assert got.json()["url"] == "https://93.184.215.14/calls" and SECRET not in got.text
    assert runtime.store.get_organization(account.org_id).webhook_secret == SECRET
    cleared = client.put(
        "/ringcast/v1/account/webhook", json={"url": None}, headers=account.headers
    )
    assert cleared.json() == {"url": None, "signed": False}


def test_bad_settings_are_refused(client, account: Account) -> None:
    """A non-http URL, credentials in the URL, a short or missing secret: 422 naming the field."""
    cases = [
        ({"url": "ftp://x.example.com", "secret": SECRET}, "url"),
        ({"url": "https://user:pw@x.example.com", "secret": SECRET}, "url"),
        ({"url": "https://x.example.com", "secret": "short"}, "secret"),
        ({"url": "https://x.example.com"}, "secret"),
    ]
    for body, field in cases:
        r = client.put("/ringcast/v1/account/webhook", json=body, headers=account.headers)
        assert r.status_code == 422, body
        assert r.json()["detail"][0]["loc"][-1] == field


def test_signature_is_hmac_sha256_of_the_body() -> None:
    """X-Webhook-Signature is the hex HMAC-SHA256 of the exact body, as a receiver computes it."""
    body = volubile.body_bytes({"id": "a1", "status": "COMPLETED", "phone": "+33612345678"})
    headers = volubile.headers(body, SECRET)
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[volubile.SIGNATURE_HEADER] == expected
    assert volubile.verify(body, SECRET, expected)
    assert not volubile.verify(body + b" ", SECRET, expected)


def test_cli_sets_the_webhook(tmp_path) -> None:
    """ringcast webhooks set stores the URL and prints a generated secret once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env["RINGCAST_DATABASE_URL"] = f"sqlite:///{tmp_path / 'rc.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "ringcast", "keys", "create", "--org", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # only a key's issue creates the organization
    assert made.returncode == 0, made.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ringcast",
            "webhooks",
            "set",
            "--org",
            "acme",
            "--url",
            "https://93.184.215.14/x",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["url"] == "https://93.184.215.14/x" and len(out["secret"]) >= 24


def test_a_private_address_is_refused_when_set(client, runtime, account: Account) -> None:
    """An account webhook on loopback, a private network or the metadata address is a 422
    naming url, which does not say how the name resolved; allowing private addresses
    lets it through."""
    for url in ("http://localhost:8080/x", "http://10.0.0.7/x", "http://169.254.169.254/"):
        r = client.put(
            "/ringcast/v1/account/webhook",
            json={"url": url, "secret": SECRET},
            headers=account.headers,
        )
        assert r.status_code == 422, url
        (problem,) = r.json()["detail"]
        assert problem["loc"][-1] == "url"
        assert problem["msg"] == "must be a public address ringcast may reach"
    assert runtime.store.get_organization(account.org_id).webhook_url is None
    runtime.settings.webhooks_allow_private = True
    r = client.put(
        "/ringcast/v1/account/webhook",
        json={"url": "http://localhost:8080/x", "secret": SECRET},
        headers=account.headers,
    )
    assert r.status_code == 200
