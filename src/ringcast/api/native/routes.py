"""Native endpoints: account settings, forecasts (and, with a later issue, do-not-call)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ringcast import forecast
from ringcast.api.bounded import BoundedInstant
from ringcast.api.deps import (
    ClockDep,
    PrincipalDep,
    ScopedRoute,
    SettingsDep,
    StoreDep,
    WorkspaceCampaignDep,
    requires,
)
from ringcast.core.errors import ValidationFailed
from ringcast.gateways.simulator import DEFAULT_MIX, MAX_SEED, OutcomeModel
from ringcast.services import webhooks

router = APIRouter(prefix="/ringcast/v1", tags=["ringcast"], route_class=ScopedRoute)


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


@router.get(
    "/account/webhook",
    operation_id="getAccountWebhook",
    dependencies=[requires("integrations:read")],
)
def get_account_webhook(principal: PrincipalDep, store: StoreDep) -> AccountWebhookOut:
    """The account webhook's URL (never its secret)."""
    hook = webhooks.get_account_webhook(store, principal.org_id)
    return AccountWebhookOut(url=hook.url, signed=hook.url is not None)


@router.put(
    "/account/webhook",
    operation_id="setAccountWebhook",
    dependencies=[requires("integrations:write")],
)
def set_account_webhook(
    principal: PrincipalDep, store: StoreDep, settings: SettingsDep, body: AccountWebhookIn
) -> AccountWebhookOut:
    """Set or clear the account webhook."""
    if body.url is not None and body.secret is None:
        raise ValidationFailed.single("secret", None, "is required with a url")
    hook = webhooks.set_account_webhook(
        store,
        principal.org_id,
        body.url,
        body.secret,
        allow_private=settings.webhooks_allow_private,
    )
    return AccountWebhookOut(url=hook.url, signed=hook.url is not None)


class ForecastIn(BaseModel):
    outcomes: str = Field(
        default=DEFAULT_MIX,
        description="Outcome probabilities, e.g. answered=0.5,no_answer=0.3,busy=0.1,failed=0.1",
    )
    seed: int = Field(default=0, ge=-MAX_SEED, le=MAX_SEED, description="Same seed, same forecast")
    until: BoundedInstant | None = Field(
        default=None, description="Stop here (default: when nothing is left, at most a year)"
    )
    trace: bool = Field(default=False, description="Include one row per attempt")


class ForecastOut(BaseModel):
    zone: str = Field(description="The campaign's zone: local days and times below are in it")
    start: str
    stopped_at: str
    contacts: int
    reached: int
    exhausted: int
    waiting: int
    skipped: int
    cancelled: int
    attempts: int
    outcomes: dict[str, int]
    attempts_per_day: dict[str, int]
    last_final_at: str | None
    all_final: bool
    deferred: dict[str, int] = Field(description="Contacts deferred or skipped, by reason")
    violations: list[str] = Field(description="Broken rules (always empty unless ringcast errs)")
    trace: list[dict[str, Any]] | None = None


@router.post(
    "/campaigns/{campaign_id}/forecast",
    operation_id="forecastCampaign",
    dependencies=[requires("campaigns:read")],
)
def forecast_campaign(
    campaign: WorkspaceCampaignDep, store: StoreDep, clock: ClockDep, body: ForecastIn
) -> ForecastOut:
    """Run the campaign from its current state on virtual time; nothing real is dialled."""
    try:
        model = OutcomeModel.parse(body.outcomes, seed=body.seed)
    except ValueError as exc:
        raise ValidationFailed.single("outcomes", body.outcomes, str(exc)) from None
    now = clock.now()
    if body.until is not None and body.until <= now:
        raise ValidationFailed.single("until", body.until.isoformat(), "must be in the future")
    result = forecast.from_store(store, campaign.id, model, now, body.until)
    rows = [r.as_json(result.zone) for r in result.trace()] if body.trace else None
    return ForecastOut(**result.summary(), trace=rows)
