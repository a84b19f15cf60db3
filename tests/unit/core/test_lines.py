"""Connections' shared limits in one planning step, as pure decisions (Hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from ringcast.core import step as tick
from ringcast.core.lines import LINE_TURN, Line
from ringcast.core.model import CampaignConfig, Contact, Schedule
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.planner import CampaignSnapshot
from ringcast.core.retry import RetryPolicy
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
HORIZON = timedelta(seconds=1)


@st.composite
def lines(draw: st.DrawFn) -> Line:
    aps = draw(st.none() | st.sampled_from([0.5, 1, 2, 5, 20]))
    cap = draw(st.none() | st.integers(1, 6))
    in_flight = draw(st.integers(0, 6))
    busy_for = draw(st.none() | st.integers(-2000, 2000))
    next_slot = None if busy_for is None else NOW + timedelta(milliseconds=busy_for)
    return Line(
        PacingLimits(attempts_per_second=aps, max_concurrent=cap),
        PacingCounters(in_flight=in_flight, next_slot_at=next_slot),
        ("+33100000009",),
    )


@given(
    known=st.dictionaries(st.sampled_from(["a", "b", "c"]), lines(), max_size=3),
    weights=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    aps=st.none() | st.sampled_from([1, 10, 100]),
    due=st.integers(0, 40),
)
def test_a_step_never_exceeds_a_connections_limits(known, weights, aps, due) -> None:
    """Whatever the connections' limits and counters: a connection's dials keep its
    spacing (from its next slot on) and its calls at once; contacts it cannot take stay
    due; the campaign looks again no later than a connection frees up."""
    routes = tuple(Route(cid, (), w) for cid, w in zip("abc", weights, strict=False))
    config = CampaignConfig(
        "c1",
        CampaignStatus.ACTIVE,
        Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        PacingLimits(attempts_per_second=aps),
        RetryPolicy(),
        routes=routes,
    )
    people = [Contact(f"k{i}", "c1", f"+3361234{i:04d}", next_due_at=NOW) for i in range(due)]
    snapshot = CampaignSnapshot(config, PacingCounters(), people, lines=known)
    writes = tick.decide(snapshot, NOW, HORIZON, ())
    by_line: dict[str, list[datetime]] = defaultdict(list)
    for d in writes.dials:
        assert d.attempt.connection_id in {r.connection_id for r in routes}
        by_line[d.attempt.connection_id].append(d.dial_at)
    for cid, slots in by_line.items():
        line = known.get(cid)
        if line is None:
            continue  # unregistered: no limits of its own
        if line.limits.max_concurrent is not None:
            assert line.counters.in_flight + len(slots) <= line.limits.max_concurrent
        if line.counters.next_slot_at is not None:
            assert min(slots) >= line.counters.next_slot_at
        if line.limits.spacing is not None:
            assert all(b - a >= line.limits.spacing for a, b in pairwise(sorted(slots)))
        assert writes.lines[cid].in_flight == line.counters.in_flight + len(slots)
        # callers come from the connection, the routes naming none
        assert {
            d.attempt.caller_number for d in writes.dials if d.attempt.connection_id == cid
        } == {"+33100000009"}
    held = due - len(writes.dials)
    if held and aps is None and set(known) == {r.connection_id for r in routes}:
        # The campaign has no rate of its own and every route is a registered connection:
        # what holds contacts back is its connections, and it looks again by the time the
        # first of them (after this step's dials) frees up.
        after = [
            replace(line, counters=writes.lines.get(cid, line.counters)).free_at(NOW)
            for cid, line in known.items()
        ]
        assert writes.next_wake_at is not None
        assert writes.next_wake_at <= min(after) + LINE_TURN
        checked_wakes.append(1)


checked_wakes: list[int] = []  #: how often the wake-up property applied (see below)


def test_turns_on_a_shared_connection() -> None:
    """The campaign that took its turn looks again just after the one that found it taken."""
    shared = {"a": Line(PacingLimits(attempts_per_second=2))}
    config = CampaignConfig(
        "c1",
        CampaignStatus.ACTIVE,
        Schedule(WeeklyWindow("UTC", (Slot(time(0), time(23, 59)),))),
        PacingLimits(attempts_per_second=10),
        RetryPolicy(),
        routes=(Route("a", ()),),
    )
    people = [Contact(f"k{i}", "c1", f"+3361234{i:04d}", next_due_at=NOW) for i in range(10)]
    first = tick.decide(CampaignSnapshot(config, PacingCounters(), people, lines=shared), NOW,
                        HORIZON, ())  # fmt: skip
    taken = {"a": replace(shared["a"], counters=first.lines["a"])}
    other = replace(config, id="c2")
    second = tick.decide(CampaignSnapshot(other, PacingCounters(), people, lines=taken), NOW,
                         HORIZON, ())  # fmt: skip
    assert [d.dial_at for d in first.dials] == [NOW, NOW + timedelta(milliseconds=500)]
    assert second.dials == ()
    free = first.lines["a"].next_slot_at
    assert second.next_wake_at == free and first.next_wake_at == free + LINE_TURN


def test_the_wake_up_property_was_exercised() -> None:
    """The property above applies only to some drawn cases; make sure some were drawn."""
    test_a_step_never_exceeds_a_connections_limits()
    assert checked_wakes
