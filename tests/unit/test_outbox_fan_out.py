"""Which webhook deliveries a call's end or a status change makes (webhooks.outbox)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from ringcast.core.model import Attempt, CampaignConfig, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.records import Campaign, Dialect
from ringcast.webhooks import outbox

T = datetime(2026, 6, 1, 9, tzinfo=UTC)
ACCOUNT = "https://example.com/account"
SARVAM = "https://example.com/sarvam"


def a_campaign(status: CampaignStatus = CampaignStatus.ACTIVE, hook: str | None = None) -> Campaign:
    config = CampaignConfig(
        "c1",
        status,
        Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23)),))),
        PacingLimits(),
        RetryPolicy(),
    )
    extra = {"webhook_config": {"url": hook, "metadata": {"x": 1}}} if hook else {}
    return Campaign(config, "o1", "w1", "Spring", "ag1", Dialect.SARVAM, T, T, extra=extra)


def an_end(outcome: Outcome) -> Attempt:
    return Attempt("a1", "k1", "c1", 0, T, T, ended_at=T + timedelta(seconds=30), outcome=outcome)


@pytest.mark.parametrize(
    ("hook", "account", "made"),
    [
        (SARVAM, ACCOUNT, [("sarvam_attempt", "attempt.ended"), ("volubile_call", "call.failed")]),
        (SARVAM, None, [("sarvam_attempt", "attempt.ended")]),
        (None, ACCOUNT, [("volubile_call", "call.failed")]),
        (None, None, []),
    ],
)
def test_a_call_end_goes_to_each_webhook_configured(
    hook: str | None, account: str | None, made: list[tuple[str, str]]
) -> None:
    """Sarvam's attempt payload goes to the campaign's hook, Volubile's call to the account's."""
    deliveries = outbox.call_ended(a_campaign(hook=hook), an_end(Outcome.NO_ANSWER), account)
    assert [(d.kind, d.event_type) for d in deliveries] == made
    for d in deliveries:
        assert (d.org_id, d.campaign_id, d.attempt_id) == ("o1", "c1", "a1")
        assert d.at == T + timedelta(seconds=30)
        assert d.payload == {}


def test_a_connected_call_is_announced_as_completed() -> None:
    """Volubile hears call.completed for a call that connected, call.failed otherwise."""
    (d,) = outbox.call_ended(a_campaign(), an_end(Outcome.COMPLETED), ACCOUNT)
    assert d.event_type == "call.completed"


def test_an_unfinished_attempt_makes_no_delivery() -> None:
    """Only an ended attempt can be announced."""
    with pytest.raises(ValueError, match="has not ended"):
        outbox.call_ended(a_campaign(), Attempt("a1", "k1", "c1", 0, T), ACCOUNT)


def test_an_action_is_announced_to_the_campaigns_hook_before_the_accounts() -> None:
    """A pause goes to the campaign's own hook if it has one, else to the account's, with
    the event, the campaign and the moment in its payload."""
    (d,) = outbox.after_action(a_campaign(hook=SARVAM), CampaignStatus.PAUSED, T, ACCOUNT)
    assert (d.kind, d.event_type, d.url, d.attempt_id) == (
        "lifecycle",
        "campaign.paused",
        SARVAM,
        None,
    )
    assert d.payload == {
        "type": "campaign.paused",
        "campaign_id": "c1",
        "name": "Spring",
        "status": "paused",
        "occurred_at": T.isoformat(),
    }
    (d,) = outbox.after_action(a_campaign(), CampaignStatus.CANCELLED, T, ACCOUNT)
    assert (d.url, d.event_type) == (ACCOUNT, "campaign.cancelled")
    assert outbox.after_action(a_campaign(), CampaignStatus.PAUSED, T, None) == []


def test_moves_without_an_event_make_no_delivery() -> None:
    """A move no action makes, or a fall back to scheduled, is not announced."""
    assert outbox.after_action(a_campaign(), CampaignStatus.ENDED, T, ACCOUNT) == []
    assert outbox.after_advance(a_campaign(), CampaignStatus.SCHEDULED, T, ACCOUNT) == []
    (d,) = outbox.after_advance(
        a_campaign(CampaignStatus.SCHEDULED), CampaignStatus.ACTIVE, T, ACCOUNT
    )
    assert d.event_type == "campaign.activated"
