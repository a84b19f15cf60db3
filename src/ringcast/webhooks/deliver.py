"""Delivering the outbox: signed, retried with backoff for days, every try recorded.

Bodies: a lifecycle event's was written with its outbox row; Sarvam's attempt payload is
built here (``payloads``); any other kind's comes from the renderer given for it (the
API's Volubile call object), and a kind without one fails at once, never retried.

Signatures follow Standard Webhooks: ``webhook-id`` (the outbox row, the same on every
retry), ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of
``id.timestamp.body`` with the organization's ``whsec_`` secret). Volubile's call object
also carries ``X-Webhook-Signature`` with the account's own secret.

Signing is ``ringcast.signing``'s, stamped with its one wall-clock read (the receiver
checks the stamp against its own clock). Requests go out through ``ringcast.egress``'s
client: a URL whose host resolves to an address that is not public is refused (failed at
once, never retried) unless the configuration allows it, and the connection goes to the
address that was checked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog

from ringcast import egress, signing, telemetry
from ringcast.clock import Clock
from ringcast.core.model import Contact
from ringcast.egress import AddressRefused
from ringcast.metrics import Metrics
from ringcast.ports import CallLog, OutboxStore
from ringcast.records import CallRecord, Campaign, Organization, PendingDelivery
from ringcast.telemetry import ATTEMPT_ID, CAMPAIGN_ID, WEBHOOK
from ringcast.webhooks import outbox, payloads, volubile

log = structlog.get_logger("ringcast.webhooks")

#: waits before each retry (Standard Webhooks' example schedule, about 75 hours in all)
BACKOFF = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
)
TIMEOUT_S = 15
CLAIM_LEASE = timedelta(seconds=60)


class DeliveryStore(OutboxStore, CallLog, Protocol):
    """What the deliverer reads and writes: the outbox, and the call, campaign, contact
    and organization a delivery's body and headers are made from."""

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    def get_contact(self, contact_id: str) -> Contact | None: ...

    def get_organization(self, org_id: str) -> Organization | None: ...


#: Builds the body of a per-call delivery from the stored call: one per outbox kind
#: whose payload belongs to an API surface (``volubile_call``: Volubile's call object),
#: given by whoever builds the deliverer, so that this layer never imports the API.
Renderer = Callable[[CallRecord], Mapping[str, Any]]


class NoRenderer(Exception):
    """A delivery of a kind no renderer was given for: it can never be sent."""


class Deliverer:
    def __init__(
        self,
        store: DeliveryStore,
        clock: Clock,
        *,
        allow_private: bool = False,
        client: httpx.AsyncClient | None = None,
        metrics: Metrics | None = None,
        renderers: Mapping[str, Renderer] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.allow_private = allow_private
        self.client = client or egress.client(allow_private, timeout=TIMEOUT_S)
        self.metrics = metrics
        self.renderers: Mapping[str, Renderer] = renderers or {}

    async def deliver_due(self, limit: int = 50) -> int:
        """Send the deliveries that are due; returns how many were tried."""
        claimed = self.store.claim_webhooks(self.clock.now(), limit, CLAIM_LEASE)
        await asyncio.gather(*(self._deliver(d) for d in claimed))
        return len(claimed)

    def body(self, delivery: PendingDelivery) -> Mapping[str, Any]:
        """What is sent: a lifecycle event's stored payload, or the call's, built now."""
        if delivery.kind == outbox.LIFECYCLE:
            return dict(delivery.payload)
        render = self.renderers.get(delivery.kind)
        if delivery.kind != outbox.SARVAM_ATTEMPT and render is None:
            raise NoRenderer(f"no renderer was given for {delivery.kind} deliveries")
        call = self.store.get_call(delivery.attempt_id or "")
        if call is None:
            raise LookupError(f"attempt {delivery.attempt_id} is gone")
        if render is not None:
            return render(call)
        campaign = self.store.get_campaign(call.attempt.campaign_id)
        if campaign is None:
            raise LookupError(f"campaign {call.attempt.campaign_id} is gone")
        contact = self.store.get_contact(call.attempt.contact_id)
        return payloads.sarvam_attempt(
            call,
            campaign,
            contact.cohort_id if contact else None,
            contact.user_identifier if contact else None,
        )

    async def _deliver(self, delivery: PendingDelivery) -> None:
        attributes = {
            "ringcast.webhook_id": delivery.id,
            "ringcast.webhook_kind": delivery.kind,
            ATTEMPT_ID: delivery.attempt_id,
            CAMPAIGN_ID: delivery.campaign_id,
        }
        with telemetry.span(WEBHOOK, attributes):
            await self._send(delivery)

    async def _send(self, delivery: PendingDelivery) -> None:
        now = self.clock.now()
        try:
            body = json.dumps(self.body(delivery), separators=(",", ":"), sort_keys=True).encode()
            headers = self._headers(delivery, body)
            response = await self.client.post(delivery.url, content=body, headers=headers)
        except AddressRefused as exc:
            egress.log_refusal(exc, webhook=delivery.id)
            self._record(delivery, "failed", None, str(exc), None, now)
            return
        except NoRenderer as exc:
            self._record(delivery, "failed", None, str(exc), None, now)
            return
        except (httpx.HTTPError, LookupError) as exc:
            self._retry(delivery, None, f"{type(exc).__name__}: {exc}", now)
            return
        if 200 <= response.status_code < 300:
            self._record(delivery, "delivered", response.status_code, None, None, now)
        elif response.status_code == 410:  # the receiver says the endpoint is gone
            self._record(delivery, "failed", 410, "410 Gone", None, now)
        else:
            self._retry(delivery, response.status_code, response.text[:200], now)

    def _headers(self, delivery: PendingDelivery, body: bytes) -> dict[str, str]:
        secret = self.store.signing_secret(delivery.org_id, signing.new_secret)
        headers = {
            "Content-Type": "application/json",
            **signing.headers(delivery.id, body, secret, signing.wall_clock()),
            "User-Agent": "ringcast-webhooks",
        }
        if delivery.kind == outbox.VOLUBILE_CALL:
            org = self.store.get_organization(delivery.org_id)
            headers.update(volubile.headers(body, org.webhook_secret if org else None))
        return headers

    def _retry(
        self, delivery: PendingDelivery, code: int | None, error: str, now: datetime
    ) -> None:
        tried = delivery.deliveries
        if tried >= len(BACKOFF):
            self._record(delivery, "failed", code, error, None, now)
        else:
            self._record(delivery, "pending", code, error, now + BACKOFF[tried], now)

    def _record(
        self,
        delivery: PendingDelivery,
        status: str,
        code: int | None,
        error: str | None,
        next_at: datetime | None,
        now: datetime,
    ) -> None:
        self.store.record_delivery(
            delivery.id, status=status, code=code, error=error, next_attempt_at=next_at, at=now
        )
        if self.metrics is not None:
            self.metrics.webhooks.labels(status).inc()
        log.info("webhook", id=delivery.id, kind=delivery.kind, status=status, code=code)
