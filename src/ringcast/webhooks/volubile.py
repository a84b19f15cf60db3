"""Volubile's account webhook: the call object, POSTed when a call completes or fails.

Signed like Volubile signs it: ``X-Webhook-Signature`` carries the hex HMAC-SHA256 of the
exact body bytes, keyed with the account's secret. (Volubile documents HMAC-SHA256 with a
Java sample and no encoding; hex is what that sample's usual receivers compare.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENTS = ("call.completed", "call.failed")


def new_secret() -> str:
    return secrets.token_hex(32)


def body_bytes(call_object: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys in a stable order."""
    return json.dumps(call_object, separators=(",", ":"), sort_keys=True).encode()


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, signature: str) -> bool:
    return hmac.compare_digest(sign(body, secret), signature)


def headers(body: bytes, secret: str | None) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if secret:
        out[SIGNATURE_HEADER] = sign(body, secret)
    return out
