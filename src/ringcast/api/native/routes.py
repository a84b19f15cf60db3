"""Native endpoints: account settings (and, with later issues, forecasts and do-not-call)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ringcast.api.deps import PrincipalDep, StoreDep
from ringcast.core.errors import ValidationFailed
from ringcast.services import webhooks

router = APIRouter(prefix="/ringcast/v1", tags=["ringcast"])


class AccountWebhookIn(BaseModel):
    url: str | None = Field(
        description="Gets the Volubile call object when a call completes or fails; null clears it"
    )
    secret: str | None = Field(
        default=None,
        min_length=24,
        description="HMAC-SHA256 key for X-Webhook-Signature, 24+ characters. Required with a url; "
        "never returned (secrets do not travel back over the API)",
    )


class AccountWebhookOut(BaseModel):
    url: str | None
    signed: bool = Field(description="Whether deliveries carry X-Webhook-Signature")


@router.get("/account/webhook", operation_id="getAccountWebhook")
def get_account_webhook(principal: PrincipalDep, store: StoreDep) -> AccountWebhookOut:
    """The account webhook's URL (never its secret)."""
    principal.require("integrations:read")
    hook = webhooks.get_account_webhook(store, principal.org_id)
    return AccountWebhookOut(url=hook.url, signed=hook.url is not None)


@router.put("/account/webhook", operation_id="setAccountWebhook")
def set_account_webhook(
    principal: PrincipalDep, store: StoreDep, body: AccountWebhookIn
) -> AccountWebhookOut:
    """Set or clear the account webhook."""
    principal.require("integrations:write")
    if body.url is not None and body.secret is None:
        raise ValidationFailed.single("secret", None, "is required with a url")
    hook = webhooks.set_account_webhook(store, principal.org_id, body.url, body.secret)
    return AccountWebhookOut(url=hook.url, signed=hook.url is not None)
