"""Delivering the outbox: signed, retried with backoff for days, every try recorded.

Signatures follow Standard Webhooks: ``webhook-id`` (the outbox row, the same on every
retry), ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of
``id.timestamp.body`` with the organization's ``whsec_`` secret). Volubile's call object
also carries ``X-Webhook-Signature`` with the account's own secret.

A URL whose host resolves to a loopback, private or link-local address is refused unless
the configuration allows it, and every address is checked, not just the first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from ringcast.clock import Clock
from ringcast.webhooks import payloads, volubile

log = structlog.get_logger("ringcast.webhooks")

#: waits before each retry (Standard Webhooks' example schedule, about 75 hours in all)
BACKOFF = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
TIMEOUT_S = 15
CLAIM_LEASE = timedelta(seconds=60)


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, now_s: int, tolerance_s: int = 300
) -> bool:
    """Check Standard Webhooks headers on a message we received (the http gateway's
    callbacks): a matching ``v1`` signature, and a timestamp within the tolerance."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(now_s - int(stamp)) > tolerance_s:
        return False
    expected = sign(secret, msg_id, int(stamp), body)
    offered = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, s) for s in offered)


class AddressRefused(Exception):
    """The URL's host resolves to an address webhooks may not reach."""


def check_destination(url: str, allow_private: bool) -> None:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not allow_private and not address.is_global:
            raise AddressRefused(f"{host} resolves to {address}, which is not a public address")


class Deliverer:
    def __init__(
        self,
        store: Any,
        clock: Clock,
        *,
        allow_private: bool = False,
        client: httpx.AsyncClient | None = None,
        metrics: Any = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.allow_private = allow_private
        self.client = client or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        self.metrics = metrics

    async def deliver_due(self, limit: int = 50) -> int:
        """Send the deliveries that are due; returns how many were tried."""
        rows = self.store.claim_webhooks(self.clock.now(), limit, CLAIM_LEASE)
        await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    def body(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["kind"] == "lifecycle":
            return dict(row["payload"])
        call = self.store.get_call(row["attempt_id"])
        if call is None:
            raise LookupError(f"attempt {row['attempt_id']} is gone")
        if row["kind"] == "volubile_call":
            from ringcast.api.volubile.translate import call_view

            return call_view(call).model_dump(mode="json")
        campaign = self.store.get_campaign(call.attempt.campaign_id)
        contact = self.store.get_contact(call.attempt.contact_id)
        return payloads.sarvam_attempt(
            call,
            campaign,
            contact.cohort_id if contact else None,
            contact.user_identifier if contact else None,
        )

    async def _deliver(self, row: dict[str, Any]) -> None:
        now = self.clock.now()
        try:
            await asyncio.to_thread(check_destination, row["url"], self.allow_private)
            body = json.dumps(self.body(row), separators=(",", ":"), sort_keys=True).encode()
            headers = self._headers(row, body, now)
            response = await self.client.post(row["url"], content=body, headers=headers)
        except AddressRefused as exc:
            self._record(row, "failed", None, str(exc), None, now)
            return
        except (httpx.HTTPError, LookupError) as exc:
            self._retry(row, None, f"{type(exc).__name__}: {exc}", now)
            return
        if 200 <= response.status_code < 300:
            self._record(row, "delivered", response.status_code, None, None, now)
        elif response.status_code == 410:  # the receiver says the endpoint is gone
            self._record(row, "failed", 410, "410 Gone", None, now)
        else:
            self._retry(row, response.status_code, response.text[:200], now)

    def _headers(self, row: dict[str, Any], body: bytes, now: datetime) -> dict[str, str]:
        ts = int(now.timestamp())
        secret = self.store.signing_secret(row["org_id"], new_signing_secret)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": row["id"],
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(secret, row["id"], ts, body),
            "User-Agent": "ringcast-webhooks",
        }
        if row["kind"] == "volubile_call":
            org = self.store.get_organization(row["org_id"])
            headers.update(volubile.headers(body, org.webhook_secret if org else None))
        return headers

    def _retry(self, row: dict[str, Any], code: int | None, error: str, now: datetime) -> None:
        tried = row["deliveries"]
        if tried >= len(BACKOFF):
            self._record(row, "failed", code, error, None, now)
        else:
            self._record(row, "pending", code, error, now + BACKOFF[tried], now)

    def _record(
        self,
        row: dict[str, Any],
        status: str,
        code: int | None,
        error: str | None,
        next_at: datetime | None,
        now: datetime,
    ) -> None:
        self.store.record_delivery(
            row["id"], status=status, code=code, error=error, next_attempt_at=next_at, at=now
        )
        if self.metrics is not None:
            self.metrics.webhooks.labels(status).inc()
        log.info("webhook", id=row["id"], kind=row["kind"], status=status, code=code)
