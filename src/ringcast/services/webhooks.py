"""Webhook settings: where an account's events go, and the secret that signs them; and the
rule every customer-given URL meets when it is set (``require_public``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.egress import AddressRefused, check_destination
from ringcast.ports import OutboxStore, Store
from ringcast.records import OutboxEntry
from ringcast.webhooks import volubile


@dataclass(frozen=True)
class AccountWebhook:
    url: str | None
    secret: str | None  #: present only right after it was set


def check_url(field: str, url: str) -> str:
    """An absolute http(s) URL without credentials in it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.single(field, url, "must be an absolute http or https URL")
    if parts.username or parts.password:
        raise ValidationFailed.single(field, url, "must not carry credentials")
    return url


#: what a refused URL is told, whatever the reason: how the name resolved is not said
NOT_PUBLIC = "must be a public address ringcast may reach"


def require_public(field: str, url: str, allow_private: bool) -> str:
    """Refuse (naming ``field``) a URL ringcast would refuse to send to: its host does not
    resolve to public addresses only (``egress``), unless private ones are allowed
    (``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``). It resolves the name, so it blocks."""
    try:
        check_destination(url, allow_private)
    except AddressRefused:
        raise ValidationFailed.single(field, url, NOT_PUBLIC) from None
    return url


def set_account_webhook(
    store: Store,
    org_id: str,
    url: str | None,
    secret: str | None,
    *,
    allow_private: bool = False,
) -> AccountWebhook:
    """Set (or with ``url=None`` clear) the account webhook; a secret is made when none is given."""
    if url is None:
        store.set_account_webhook(org_id, None, None)
        return AccountWebhook(None, None)
    check_url("url", url)
    require_public("url", url, allow_private)
    if secret is not None and len(secret) < 24:
        raise ValidationFailed.single("secret", "[hidden]", "must be at least 24 characters")
    secret = secret or volubile.new_secret()
    store.set_account_webhook(org_id, url, secret)
    return AccountWebhook(url, secret)


def get_account_webhook(store: Store, org_id: str) -> AccountWebhook:
    org = store.get_organization(org_id)
    return AccountWebhook(org.webhook_url if org else None, None)


#: the states a delivery goes through: pending until a 2xx, failed once its tries are spent
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def deliveries(
    store: OutboxStore, org_id: str, status: str | None, offset: int, limit: int
) -> tuple[list[OutboxEntry], int]:
    """A page of the organization's webhook deliveries, newest first, perhaps of one status."""
    if status is not None and status not in DELIVERY_STATUSES:
        raise ValidationFailed.single(
            "status", status, f"must be one of {', '.join(DELIVERY_STATUSES)}"
        )
    return store.list_deliveries(org_id, status, offset, limit)


def retry_delivery(store: OutboxStore, org_id: str, outbox_id: str, now: datetime) -> OutboxEntry:
    """Send a failed delivery once more, now; the deliverer picks it up on its next round.

    Another organization's delivery reads exactly like one that does not exist; one that
    is pending or delivered is refused, naming its status."""
    if not store.retry_delivery(org_id, outbox_id, now):
        known = store.get_delivery(org_id, outbox_id)
        if known is None:
            raise NotFound("webhook delivery", outbox_id)
        raise ValidationFailed.single("status", known.status, "only a failed delivery is retried")
    retried = store.get_delivery(org_id, outbox_id)
    if retried is None:  # removed since: as if it never was
        raise NotFound("webhook delivery", outbox_id)
    return retried
