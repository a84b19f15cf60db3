"""Caller numbers: sticky per contact, local first, capped per hour and per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.core import callers
from ringcast.core.callers import CallerCaps, CallerUsage
from ringcast.core.lines import Line

PARIS = ("+33140000001", "+33140000002")  # Paris area code 1
LYON = ("+33478000001",)  # Lyon area code 4
US = ("+12125550101", "+14155550101")  # New York, San Francisco
NUMBERS = PARIS + LYON + US
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
NONE = CallerCaps()


def test_a_contact_keeps_its_number_across_attempts() -> None:
    """The same contact is shown the same number at every attempt while it is available."""
    for i in range(40):
        shown = {
            callers.pick(US, f"c{i}", "+13125550000", NONE, {}, T0 + timedelta(hours=h))
            for h in range(5)
        }
        assert len(shown) == 1


def test_contacts_spread_over_the_numbers() -> None:
    """Different contacts are shown different numbers of the same tier."""
    shown = {callers.pick(US, f"c{i}", "+13125550000", NONE, {}, T0) for i in range(40)}
    assert shown == set(US)


def test_local_presence_prefers_the_area_code_then_the_country() -> None:
    """A Lyon contact sees the Lyon number; a Paris one a Paris number; a US one a US one."""
    assert callers.pick(NUMBERS, "c1", "+33478999999", NONE, {}, T0) == LYON[0]
    assert callers.pick(NUMBERS, "c1", "+33140999999", NONE, {}, T0) in PARIS
    assert callers.pick(NUMBERS, "c1", "+33612345678", NONE, {}, T0) in PARIS + LYON
    assert callers.pick(NUMBERS, "c1", "+12125559999", NONE, {}, T0) == US[0]


def test_a_capped_number_is_skipped_until_the_next_hour() -> None:
    """A number at its hourly cap gives way to another, and is back the next hour."""
    caps = CallerCaps(max_per_hour=2)
    full = {LYON[0]: CallerUsage(callers.hour_of(T0), 2, 2)}
    assert callers.pick(NUMBERS, "c1", "+33478999999", caps, full, T0) in PARIS
    later = T0 + timedelta(hours=1)
    assert callers.pick(NUMBERS, "c1", "+33478999999", caps, full, later) == LYON[0]


def test_every_number_capped_means_no_number_and_a_wake_at_the_next_hour() -> None:
    """With every number at its cap no number is given, and the line frees up next hour."""
    caps = CallerCaps(max_per_hour=1, max_per_day=5)
    usage = {n: CallerUsage(callers.hour_of(T0), 1, 1) for n in US}
    assert callers.pick(US, "c1", "+12125559999", caps, usage, T0) is None
    line = Line(caller_numbers=US, caller_caps=caps, caller_usage=usage)
    assert line.free_at(T0) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_daily_cap_holds_until_the_next_utc_day() -> None:
    """A number at its daily cap stays capped for the rest of the UTC day."""
    caps = CallerCaps(max_per_day=3)
    usage = {US[0]: CallerUsage(callers.hour_of(T0), 1, 3)}
    assert not callers.admits(caps, usage[US[0]], T0 + timedelta(hours=5))
    assert callers.admits(caps, usage[US[0]], T0 + timedelta(hours=15))
    line = Line(caller_numbers=(US[0],), caller_caps=caps, caller_usage=usage)
    assert line.free_at(T0) == datetime(2026, 12, 2, tzinfo=UTC)


@settings(max_examples=200, deadline=None)
@given(
    per_hour=st.integers(1, 4),
    per_day=st.integers(1, 9),
    gaps=st.lists(st.integers(1, 3600), min_size=1, max_size=60),
)
def test_booking_through_a_line_never_exceeds_a_numbers_caps(
    per_hour: int, per_day: int, gaps: list[int]
) -> None:
    """Dials booked one after another through a line keep every number within its caps."""
    line = Line(caller_numbers=US, caller_caps=CallerCaps(per_hour, per_day))
    at = T0
    booked: list[tuple[datetime, str]] = []
    for i, gap in enumerate(gaps):
        at += timedelta(seconds=gap)
        number = line.caller_for((), f"c{i % 7}", "+12125559999", at)
        if number is None:
            continue
        line = line.carrying(at, number)
        booked.append((at, number))
    for number in US:
        mine = [t for t, n in booked if n == number]
        for t in mine:
            assert sum(1 for u in mine if callers.hour_of(u) == callers.hour_of(t)) <= per_hour
            assert sum(1 for u in mine if u.date() == t.date()) <= per_day
