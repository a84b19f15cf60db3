"""Standard Webhooks signatures, in one place: every message ringcast signs or checks.

A message carries ``webhook-id``, ``webhook-timestamp`` (whole seconds since the epoch)
and ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``,
keyed with the base64 part of a ``whsec_`` secret. Several space-separated signatures may
be offered (a secret being rotated); one match is enough.

ringcast signs its webhooks, its pre-dial questions and its dial requests to an agent
runtime, and checks the runtime's reports. A receiver compares the timestamp with its
own wall clock to refuse replays, so a stamp must be real time even when the scheduler
runs on virtual time: ``wall_clock`` is the one place here that reads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

PREFIX = "whsec_"
#: how far a received timestamp may stray from our clock (Standard Webhooks' default)
TOLERANCE = timedelta(minutes=5)
#: the shortest secret accepted, in base64 characters after the prefix (12 bytes)
MIN_SECRET_CHARS = 16
#: what a secret must look like, as a refusal says it
SECRET_FORMAT = (
    f"must be base64 of {MIN_SECRET_CHARS} characters or more, optionally after "
    f"{PREFIX} (a Standard Webhooks secret)"
)


def key(secret: str) -> bytes:
    """The HMAC key a secret stands for: the base64 after ``whsec_``; ``ValueError`` when
    it is not base64 (strict: a character outside the alphabet is refused, not skipped)."""
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a signing secret {SECRET_FORMAT}") from None


def secret_problem(secret: object) -> str | None:
    """Why ``secret`` cannot sign messages, or None: checked where a secret is given, so
    that a dial signed with it never fails on it."""
    if not isinstance(secret, str):
        return SECRET_FORMAT
    if len(secret.removeprefix(PREFIX)) < MIN_SECRET_CHARS:
        return SECRET_FORMAT
    try:
        key(secret)
    except ValueError:
        return SECRET_FORMAT
    return None


def new_secret() -> str:
    """A fresh ``whsec_`` secret: 32 random bytes, base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,`` signature of one message; ``ValueError`` for a secret that is not base64."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(msg_id: str, body: bytes, secret: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``at``."""
    stamp = int(at.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }


def verify(
    secret: str,
    received: Mapping[str, str],
    body: bytes,
    at: datetime,
    tolerance: timedelta = TOLERANCE,
) -> bool:
    """Whether a received message is genuine: a matching ``v1`` signature and a
    timestamp within ``tolerance`` of ``at`` (the receiver's wall clock)."""
    msg_id = received.get("webhook-id")
    stamp = received.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs(int(at.timestamp()) - int(stamp)) > tolerance.total_seconds():
        return False
    try:
        expected = sign(secret, msg_id, int(stamp), body)
    except ValueError:
        return False  # a secret stored before secrets were checked signs nothing
    offered = received.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, s) for s in offered)


def wall_clock() -> datetime:
    """Now, by the wall clock: the stamp a receiver will compare with its own clock.

    Scheduling code reads time from a ``Clock``, which is virtual in the forecast and the
    tests; a signature stamp is checked by another machine against real time, so it is
    read here, the only place outside ``clock.py`` allowed to.
    """
    return datetime.now(UTC)  # noqa: TID251
