"""Every forecast keeps the campaign's rules; the checker itself catches each broken rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ringcast import forecast
from ringcast.cli import inputs
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.forecast import report
from ringcast.gateways.simulator import OutcomeModel
from ringcast.records import Dialect
from ringcast.services.campaigns import NewCampaign, Recipient
from tests.forecast import scenarios

ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]


def test_every_scenario_keeps_its_rules() -> None:
    """Every fixed scenario's forecast breaks no rule and leaves every contact final."""
    for s in scenarios.ALL:
        f = s.run()
        assert f.violations() == [], s.name
        assert f.summary()["all_final"], s.name


@st.composite
def campaigns(draw: st.DrawFn) -> tuple[NewCampaign, datetime]:
    zone = draw(st.sampled_from(ZONES))
    start_h = draw(st.integers(0, 20))
    length_h = draw(st.integers(1, 24 - start_h))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    weekly = WeeklyWindow(zone, (Slot(time(start_h), time(min(start_h + length_h, 23), 59)),), days)
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
        days=draw(st.integers(0, 364)), minutes=draw(st.integers(0, 1439))
    )
    pacing = PacingLimits(
        attempts_per_second=draw(st.sampled_from([0.1, 0.5, 1, 3, 20])),
        calls_per_day=draw(st.none() | st.integers(1, 40)),
        max_concurrent=draw(st.none() | st.integers(1, 5)),
        day_zone=zone,
    )
    waits = tuple(
        timedelta(minutes=m) for m in draw(st.lists(st.integers(1, 600), min_size=1, max_size=3))
    )
    retry = RetryPolicy(
        max_retries=draw(st.integers(0, 3)),
        intervals=waits,
        rules=(
            RetryRule("retry", frozenset({Outcome.NO_ANSWER, Outcome.BUSY})),
            RetryRule(
                "provider_error_retry",
                frozenset({Outcome.FAILED}),
                max_retries=draw(st.integers(0, 2)),
                intervals=(timedelta(minutes=draw(st.integers(1, 60))),),
            ),
        ),
    )
    ends = start + timedelta(days=draw(st.integers(1, 20))) if draw(st.booleans()) else None
    config = CampaignConfig(
        "", CampaignStatus.SCHEDULED, Schedule(weekly, start, ends), pacing, retry
    )
    new = NewCampaign("org", "ws", "property", "agent", "agentId", Dialect.NATIVE, config)
    return new, start


@settings(max_examples=200, deadline=None)
@given(campaigns(), st.integers(1, 40), st.integers(0, 2**32))
def test_random_campaigns_never_break_their_rules(made, people: int, seed: int) -> None:
    """A forecast of any generated campaign breaks no rule and loses no contact."""
    new, start = made
    recipients = [Recipient(f"+3361000{i:04d}") for i in range(people)]
    model = OutcomeModel.parse("answered=0.3,no_answer=0.4,busy=0.1,failed=0.2", seed=seed)
    f = forecast.from_new_campaign(new, recipients, model, start, start + timedelta(days=40))
    event(f"dialled: {'some' if f.attempts else 'none'}")
    assert f.violations() == []
    # Nobody is lost: every contact is final, or still waiting with its next moment.
    figures = f.summary()
    assert figures["reached"] + figures["exhausted"] + figures["waiting"] == people


def _broken(mutate) -> list[str]:
    f = scenarios.CONCURRENCY.run()
    attempts = mutate(sorted(f.attempts, key=lambda a: a.dialed_at))
    return report.violations(f.campaign.config, f.contacts, attempts)


def test_the_checker_sees_a_call_outside_the_window() -> None:
    """The invariant checker reports a dial moved outside the campaign's window."""

    def at_night(attempts):
        a = attempts[0]
        return [replace(a, dialed_at=a.dialed_at.replace(hour=2)), *attempts[1:]]

    assert any("outside the campaign's window" in v for v in _broken(at_night))


def test_the_checker_sees_dials_closer_than_the_rate() -> None:
    """The invariant checker reports two dials closer together than the rate allows."""

    def crowd(attempts):
        a, b = attempts[0], attempts[1]
        return [a, replace(b, dialed_at=a.dialed_at + timedelta(milliseconds=10)), *attempts[2:]]

    assert any("closer than" in v for v in _broken(crowd))


def test_the_checker_sees_too_many_calls_at_once_and_a_day_over_its_cap() -> None:
    """The invariant checker reports too many calls in progress at once and a day over its cap."""

    def pile_up(attempts):
        first = attempts[0].dialed_at
        return [
            replace(a, dialed_at=first + timedelta(seconds=i), ended_at=first + timedelta(hours=1))
            for i, a in enumerate(attempts[:5])
        ] + attempts[5:]

    assert any("calls at once" in v for v in _broken(pile_up))
    f = scenarios.PARIS_DST.run()
    capped = replace(f.campaign.config, pacing=replace(f.campaign.config.pacing, calls_per_day=10))
    assert any(
        "over the daily cap 10" in v for v in report.violations(capped, f.contacts, f.attempts)
    )


def test_the_checker_sees_a_retry_too_soon_and_a_budget_overrun() -> None:
    """The invariant checker reports a retry dialled before its delay and a retry budget overrun."""
    f = scenarios.SARVAM_WEEK.run()
    retried = [a for a in f.attempts if a.number == 1]
    assert retried
    soon = {a.id: replace(a, dialed_at=a.due_at - timedelta(minutes=15)) for a in retried[:1]}
    changed = [soon.get(a.id, a) for a in f.attempts]
    found = report.violations(f.campaign.config, f.contacts, changed)
    assert any("sooner than" in v for v in found)
    stingy = replace(f.campaign.config, retry=replace(f.campaign.config.retry, max_retries=0))
    assert any("over the budget" in v for v in report.violations(stingy, f.contacts, f.attempts))


def test_the_checker_sees_a_call_outside_the_contacts_local_hours(tmp_path) -> None:
    """The invariant checker reports dials outside a contact's local hours under the US policy,
    where a forecast under that policy defers them instead."""
    body = scenarios.sarvam_body(
        allowed_schedule={
            "allowed_start_time": "06:00",
            "allowed_end_time": "23:00",
            "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
            "timezone": "America/New_York",
        }
    )
    people = [Recipient(p) for p in ("+12125550101", "+18085550105", "+13055550102")]
    start = datetime(2026, 6, 1, 10, tzinfo=UTC)
    new = inputs.new_campaign(body, PacingLimits())
    model = OutcomeModel.parse("answered=1", seed=1)
    careless = forecast.from_new_campaign(new, people, model, start)
    us = replace(careless.campaign.config, policy="us")
    found = report.violations(us, careless.contacts, careless.attempts)
    assert any("outside us hours" in v for v in found)  # Honolulu at 02:00, for one
    careful = forecast.from_new_campaign(
        replace(new, config=replace(new.config, policy="us")), people, model, start
    )
    assert careful.violations() == []
    assert careful.summary()["deferred"] == {"outside_local_hours": 3}
