"""Pacing arithmetic: rate spacing, concurrency and the local daily quota."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.core.pacing import (
    PacingCounters,
    PacingLimits,
    after_dials,
    dial_budget,
    next_local_midnight,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SEC = timedelta(seconds=1)


def test_rate_spaces_the_slots() -> None:
    """At 20 per second, one second holds 20 slots 50 ms apart."""
    b = dial_budget(PacingLimits(attempts_per_second=20), PacingCounters(), NOW, SEC, 100)
    assert len(b.slots) == 20
    assert b.slots[1] - b.slots[0] == timedelta(milliseconds=50)
    assert b.limited_by == "rate"
    assert b.retry_at == NOW + SEC


def test_fractional_rate_carries_over_between_ticks() -> None:
    """At 0.5 per second, a dial now means the next slot is two seconds later."""
    limits = PacingLimits(attempts_per_second=0.5)
    first = dial_budget(limits, PacingCounters(), NOW, SEC, 5)
    assert first.slots == (NOW,)
    counters = after_dials(limits, PacingCounters(), list(first.slots))
    assert dial_budget(limits, counters, NOW + SEC, SEC, 5).slots == ()
    assert dial_budget(limits, counters, NOW + 2 * SEC, SEC, 5).slots == (NOW + 2 * SEC,)


def test_concurrency_and_daily_caps() -> None:
    """The smallest of the caps wins, and the daily cap says when to ask again."""
    limits = PacingLimits(max_concurrent=3, calls_per_day=10, day_zone="Europe/Paris")
    assert len(dial_budget(limits, PacingCounters(in_flight=1), NOW, SEC, 9).slots) == 2
    day = limits.local_day(NOW)
    b = dial_budget(limits, PacingCounters(day=day, dialed_today=9), NOW, SEC, 9)
    assert len(b.slots) == 1
    assert b.limited_by == "daily"
    assert b.retry_at == datetime(2026, 6, 1, 22, tzinfo=UTC)  # Paris midnight


def test_daily_count_resets_on_a_new_local_day() -> None:
    """Yesterday's dials do not count against today's quota."""
    limits = PacingLimits(calls_per_day=2)
    counters = PacingCounters(day=date(2026, 5, 31), dialed_today=2)
    assert len(dial_budget(limits, counters, NOW, SEC, 5).slots) == 2


@pytest.mark.parametrize("aps", [0.09, 500.1, 0])
def test_rate_bounds(aps: float) -> None:
    """Attempts per second must lie between 0.1 and 500."""
    with pytest.raises(ValueError, match="attempts_per_second"):
        PacingLimits(attempts_per_second=aps)


def test_midnight_across_dst() -> None:
    """The next local midnight is found on the day the clocks change."""
    at = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert next_local_midnight(at, "Europe/Paris") == datetime(2026, 3, 28, 23, tzinfo=UTC)


@settings(max_examples=200)
@given(
    aps=st.floats(0.1, 500),
    ticks=st.lists(st.integers(0, 3000), min_size=1, max_size=40),
    wanted=st.integers(0, 600),
)
def test_no_second_ever_holds_more_than_the_rate(aps: float, ticks: list[int], wanted: int) -> None:
    """Driving the budget tick after tick, dials are never closer than 1/aps."""
    limits = PacingLimits(attempts_per_second=aps)
    counters = PacingCounters()
    now = NOW
    dialed: list[datetime] = []
    for gap_ms in ticks:
        now += timedelta(milliseconds=gap_ms)
        slots = list(dial_budget(limits, counters, now, SEC, wanted).slots)
        assert all(s >= now for s in slots)
        counters = after_dials(limits, counters, slots)
        dialed.extend(slots)
    spacing = timedelta(seconds=1 / aps)
    for a, b in itertools.pairwise(dialed):
        assert b - a >= spacing - timedelta(microseconds=1)
