"""Webhook settings: where an account's events go, and the secret that signs them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ringcast.core.errors import ValidationFailed
from ringcast.ports import Store
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


def set_account_webhook(
    store: Store, org_id: str, url: str | None, secret: str | None
) -> AccountWebhook:
    """Set (or with ``url=None`` clear) the account webhook; a secret is made when none is given."""
    if url is None:
        store.set_account_webhook(org_id, None, None)
        return AccountWebhook(None, None)
    check_url("url", url)
    if secret is not None and len(secret) < 24:
        raise ValidationFailed.single("secret", "[hidden]", "must be at least 24 characters")
    secret = secret or volubile.new_secret()
    store.set_account_webhook(org_id, url, secret)
    return AccountWebhook(url, secret)


def get_account_webhook(store: Store, org_id: str) -> AccountWebhook:
    org = store.get_organization(org_id)
    return AccountWebhook(org.webhook_url if org else None, None)
