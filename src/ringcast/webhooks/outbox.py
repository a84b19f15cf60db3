"""Which webhook deliveries a change makes: pure functions from the change to outbox rows.

The SQL store writes what these return in the transaction that makes the change, so a
delivery exists exactly when its change was committed; ``deliver`` sends them later.
Nothing here reads or writes anything: the caller passes what the rule needs (the
account's webhook URL among it) and stores the result.

Three kinds of delivery exist:

    sarvam_attempt   Sarvam's per-attempt payload, to the campaign's ``webhook_config.url``
    volubile_call    Volubile's call object, to the organization's account webhook
    lifecycle        a campaign's status change, to the campaign's URL, else the account's

Per-attempt payloads are built when sent, from the stored attempt (which no longer
changes once ended); a lifecycle payload is written with its row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ringcast.core.model import Attempt
from ringcast.core.states import CampaignStatus, action_event, advance_event
from ringcast.records import Campaign

SARVAM_ATTEMPT = "sarvam_attempt"
VOLUBILE_CALL = "volubile_call"
LIFECYCLE = "lifecycle"

#: Where Sarvam's campaign body keeps its webhook (``url`` and ``metadata``), in ``extra``.
SARVAM_HOOK = "webhook_config"


@dataclass(frozen=True)
class NewDelivery:
    """One delivery to queue: what to send where, first due at ``at``."""

    org_id: str
    campaign_id: str
    attempt_id: str | None  #: the attempt a per-attempt payload describes
    kind: str
    event_type: str
    url: str
    at: datetime  #: when the change happened: the delivery is made and first due then
    payload: Mapping[str, Any] = field(default_factory=dict)


def sarvam_hook(campaign: Campaign) -> Mapping[str, Any]:
    """The campaign's Sarvam ``webhook_config`` (empty when it has none)."""
    hook = campaign.extra.get(SARVAM_HOOK)
    return hook if isinstance(hook, Mapping) else {}


def call_ended(campaign: Campaign, ended: Attempt, account_url: str | None) -> list[NewDelivery]:
    """The deliveries a finished call makes: Sarvam's attempt payload when the campaign
    has a webhook, Volubile's call object when the organization has an account webhook."""
    if ended.ended_at is None:
        raise ValueError(f"attempt {ended.id} has not ended")
    made: list[NewDelivery] = []
    url = sarvam_hook(campaign).get("url")
    if url:
        made.append(_about(campaign, ended, SARVAM_ATTEMPT, "attempt.ended", str(url)))
    if account_url:
        event = "call.completed" if ended.outcome.connected else "call.failed"
        made.append(_about(campaign, ended, VOLUBILE_CALL, event, account_url))
    return made


def after_action(
    before: Campaign, status: CampaignStatus, at: datetime, account_url: str | None
) -> list[NewDelivery]:
    """The delivery a person's action makes: the campaign moved from its status in
    ``before`` to ``status`` at ``at``."""
    return _lifecycle(before, status, action_event(before.config.status, status), at, account_url)


def after_advance(
    campaign: Campaign, status: CampaignStatus, at: datetime, account_url: str | None
) -> list[NewDelivery]:
    """The delivery a campaign's move to ``status`` by itself makes (activated, ended)."""
    return _lifecycle(campaign, status, advance_event(status), at, account_url)


def _about(campaign: Campaign, ended: Attempt, kind: str, event: str, url: str) -> NewDelivery:
    assert ended.ended_at is not None  # checked by call_ended
    return NewDelivery(campaign.org_id, campaign.id, ended.id, kind, event, url, ended.ended_at)


def _lifecycle(
    campaign: Campaign,
    status: CampaignStatus,
    event: str | None,
    at: datetime,
    account_url: str | None,
) -> list[NewDelivery]:
    url = sarvam_hook(campaign).get("url") or account_url
    if event is None or not url:
        return []
    payload = {
        "type": event,
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": status.value,
        "occurred_at": at.isoformat(),
    }
    return [
        NewDelivery(campaign.org_id, campaign.id, None, LIFECYCLE, event, str(url), at, payload)
    ]
