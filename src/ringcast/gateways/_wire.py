"""Small readers every gateway needs for what providers send: written once, here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ringcast.gateways.base import SignatureInvalid


def instant(value: object) -> datetime | None:
    """An ISO 8601 timestamp with its offset, as an aware datetime; None for anything else
    (a naive time says nothing about when it was)."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (servers and proxies vary)."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def signed_text(body: bytes) -> str:
    """A callback's body as the text its provider signed: every provider signs UTF-8, so
    bytes that are not cannot carry a valid signature."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureInvalid("the body is not the UTF-8 text the provider signs") from None
