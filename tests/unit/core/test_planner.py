"""The planner: status moves, pacing and deferrals, as pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from ringcast.core.model import CampaignConfig, Contact, ContactState, Schedule
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.planner import CampaignSnapshot, ChangeStatus, Defer, PlaceCall, plan
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow

MON_9 = datetime(2026, 6, 1, 9, tzinfo=UTC)
S = CampaignStatus


def campaign(status=S.ACTIVE, aps=None, ends_at=None, **pacing) -> CampaignConfig:
    return CampaignConfig(
        id="c1",
        status=status,
        schedule=Schedule(WeeklyWindow("UTC", (Slot(time(9), time(17)),)), ends_at=ends_at),
        pacing=PacingLimits(attempts_per_second=aps, **pacing),
        retry=RetryPolicy(),
    )


def contacts(n: int, due_at: datetime = MON_9) -> list[Contact]:
    return [Contact(f"k{i}", "c1", f"+3361234{i:04d}", next_due_at=due_at) for i in range(n)]


def test_scheduled_campaign_activates_inside_its_window() -> None:
    """A scheduled campaign whose window is open becomes active and dials."""
    p = plan(CampaignSnapshot(campaign(S.SCHEDULED), PacingCounters(), contacts(2)), MON_9)
    assert p.decisions[0] == ChangeStatus(S.ACTIVE, "window_opened")
    assert [c.contact_id for c in p.calls] == ["k0", "k1"]


def test_active_campaign_goes_back_to_scheduled_when_the_window_closes() -> None:
    """At 17:00 the campaign stops dialling and sleeps until the next morning."""
    at = datetime(2026, 6, 1, 17, tzinfo=UTC)
    p = plan(CampaignSnapshot(campaign(), PacingCounters(), contacts(3)), at)
    assert p.decisions == (ChangeStatus(S.SCHEDULED, "window_closed"),)
    assert p.wake_at == datetime(2026, 6, 2, 9, tzinfo=UTC)


def test_end_time_ends_even_a_paused_campaign() -> None:
    """Past its end time every live campaign ends; a paused one wakes for it."""
    ends = MON_9 + timedelta(hours=1)
    paused = plan(CampaignSnapshot(campaign(S.PAUSED, ends_at=ends), PacingCounters(), []), MON_9)
    assert paused.decisions == ()
    assert paused.wake_at == ends
    p = plan(CampaignSnapshot(campaign(S.PAUSED, ends_at=ends), PacingCounters(), []), ends)
    assert p.decisions == (ChangeStatus(S.ENDED, "end_time_passed"),)
    assert p.wake_at is None


def test_paused_campaign_places_nothing() -> None:
    """Pausing stops every new dial."""
    p = plan(CampaignSnapshot(campaign(S.PAUSED), PacingCounters(), contacts(5)), MON_9)
    assert p.calls == ()


def test_rate_limits_calls_and_sets_the_wake_up() -> None:
    """At 2 per second, a one-second plan places two calls half a second apart."""
    p = plan(CampaignSnapshot(campaign(aps=2), PacingCounters(), contacts(10)), MON_9)
    assert [c.dial_at for c in p.calls] == [MON_9, MON_9 + timedelta(milliseconds=500)]
    assert p.wake_at == MON_9 + timedelta(seconds=1)


def test_contacts_not_yet_due_are_not_dialled() -> None:
    """A contact due later sets the wake-up instead of being called."""
    later = MON_9 + timedelta(minutes=5)
    p = plan(CampaignSnapshot(campaign(), PacingCounters(), contacts(1, later)), MON_9)
    assert p.calls == ()
    assert p.wake_at == later


def test_contact_outside_its_own_hours_is_deferred() -> None:
    """A contact whose own window is closed is deferred to its opening, with the reason."""
    own = WeeklyWindow("UTC", (Slot(time(14), time(16)),))
    c = Contact("k", "c1", "+33612345678", next_due_at=MON_9, window=own)
    p = plan(CampaignSnapshot(campaign(), PacingCounters(), [c]), MON_9)
    assert p.decisions == (
        Defer("k", datetime(2026, 6, 1, 14, tzinfo=UTC), "outside_contact_hours"),
    )


def test_concurrency_cap() -> None:
    """With two calls in flight and a cap of three, one more call is placed."""
    snap = CampaignSnapshot(campaign(max_concurrent=3), PacingCounters(in_flight=2), contacts(5))
    assert len(plan(snap, MON_9).calls) == 1


def test_attempt_number_follows_the_contact() -> None:
    """A contact that was called twice gets attempt number 2."""
    c = Contact("k", "c1", "+33612345678", next_due_at=MON_9, attempts=2)
    (call,) = plan(CampaignSnapshot(campaign(), PacingCounters(), [c]), MON_9).calls
    assert call == PlaceCall("k", 2, MON_9, MON_9)


def test_non_waiting_contacts_are_ignored() -> None:
    """Only waiting contacts are dialled."""
    c = Contact("k", "c1", "+33612345678", state=ContactState.DIALING)
    assert plan(CampaignSnapshot(campaign(), PacingCounters(), [c]), MON_9).calls == ()
