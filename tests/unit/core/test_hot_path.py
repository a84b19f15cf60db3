"""Shortcuts the forecast's hot path takes through the core: each gives what the long way gives."""

from __future__ import annotations

import uuid
from dataclasses import FrozenInstanceError, dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.core.contacts import finish_attempt, start_attempt
from ringcast.core.model import (
    Attempt,
    CampaignConfig,
    Contact,
    ContactState,
    Schedule,
    evolve,
)
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule, decide
from ringcast.core.states import CampaignStatus
from ringcast.core.step import ATTEMPT_NAMESPACE, TickWrites, attempt_id, uuid5_text
from ringcast.core.values import quick_init
from ringcast.core.windows import WHOLE_DAY, Slot, Span, WeeklyWindow

T = datetime(2026, 6, 1, 9, tzinfo=UTC)
moments = st.integers(0, 10**6).map(lambda s: T + timedelta(seconds=s))
maybe_moments = st.none() | moments


@settings(max_examples=30)
@given(
    st.builds(
        Contact,
        id=st.just("k"),
        campaign_id=st.just("c"),
        phone=st.just("+33612345678"),
        state=st.sampled_from(ContactState),
        next_due_at=maybe_moments,
        attempts=st.integers(0, 5),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "state": st.sampled_from(ContactState),
            "next_due_at": maybe_moments,
            "attempts": st.integers(0, 5),
            "reason": st.sampled_from([None, "outside_contact_hours"]),
        },
    ),
)
def test_evolve_is_replace_for_contacts(contact: Contact, changes: dict[str, object]) -> None:
    """Copying a contact with ``evolve`` gives the value ``dataclasses.replace`` gives."""
    assert evolve(contact, **changes) == replace(contact, **changes)  # type: ignore[arg-type]


def test_evolve_copies_counters_and_writes_like_replace() -> None:
    """``evolve`` on pacing counters and a step's writes changes the named fields only."""
    counters = PacingCounters(in_flight=3, next_slot_at=T, dialed_today=7)
    assert evolve(counters, in_flight=2) == PacingCounters(2, T, None, 7)
    writes = TickWrites(next_wake_at=T, reasons=("window_opened",))
    assert evolve(writes, org_id="o") == replace(writes, org_id="o")
    with pytest.raises(TypeError, match="no field"):
        evolve(counters, flights=1)


def test_evolve_leaves_validation_and_cached_values_to_replace() -> None:
    """A value that checks itself (``__post_init__``) or caches a derived value is copied by
    ``dataclasses.replace``: the check runs, and the cached value follows the change."""
    limits = PacingLimits(attempts_per_second=1.0)
    assert limits.spacing == timedelta(seconds=1)
    assert evolve(limits, attempts_per_second=2.0).spacing == timedelta(seconds=0.5)
    with pytest.raises(ValueError, match="attempts_per_second"):
        evolve(limits, attempts_per_second=10_000.0)
    schedule = Schedule(WeeklyWindow("UTC", (Slot(time(9), time(17)),)))
    assert schedule.window.is_open(T)
    ended = evolve(schedule, ends_at=T)
    assert not ended.window.is_open(T)


def _attempt(number: int, outcome: Outcome, rule: str | None) -> Attempt:
    return Attempt(
        id=f"a{number}",
        contact_id="k",
        campaign_id="c",
        number=number,
        due_at=T,
        dialed_at=T,
        ended_at=T + timedelta(minutes=number),
        outcome=outcome,
        retry_rule=rule,
    )


POLICY = RetryPolicy(
    max_retries=2,
    intervals=(timedelta(hours=1),),
    rules=(
        RetryRule("retry", frozenset({Outcome.NO_ANSWER, Outcome.BUSY})),
        RetryRule("provider_error_retry", frozenset({Outcome.FAILED}), max_retries=1),
    ),
)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED]),
            st.sampled_from([None, "retry", "provider_error_retry"]),
        ),
        max_size=4,
    ),
    st.sampled_from([Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED, Outcome.COMPLETED]),
)
def test_the_retry_policy_reads_attempts_as_their_results(
    earlier: list[tuple[Outcome, str | None]], latest: Outcome
) -> None:
    """Given the earlier attempts themselves or their ``as_result`` copies, the retry policy
    decides the same."""
    history = [_attempt(i, o, rule) for i, (o, rule) in enumerate(earlier)]
    last = _attempt(len(history), latest, None).as_result()
    window = Span()
    assert decide(POLICY, history, last, window) == decide(
        POLICY, [a.as_result() for a in history], last, window
    )


def test_an_earlier_attempt_without_an_end_is_refused() -> None:
    """Finishing an attempt whose contact has an earlier attempt still without an end
    raises, as when the history was read through ``as_result``."""
    always = Schedule(WeeklyWindow("UTC", (WHOLE_DAY,)))
    campaign = CampaignConfig("c", CampaignStatus.ACTIVE, always, PacingLimits(), POLICY)
    dialing, attempt = start_attempt(Contact("k", "c", "+33612345678"), "a1", T, T)
    ended = evolve(attempt, outcome=Outcome.NO_ANSWER, ended_at=T)
    unended = evolve(_attempt(0, Outcome.NO_ANSWER, "retry"), ended_at=None)
    with pytest.raises(ValueError, match="has not ended"):
        finish_attempt(campaign, dialing, [unended], ended)


def test_start_attempt_sets_the_details_on_the_one_attempt_it_makes() -> None:
    """The details given to ``start_attempt`` are on the attempt it returns, beside the
    number and moments it sets itself."""
    _, attempt = start_attempt(
        Contact("k", "c", "+33612345678", attempts=2),
        "a2",
        T,
        T + timedelta(seconds=1),
        variables={"name": "Ada"},
        connection_id="line",
    )
    assert (attempt.number, attempt.dialed_at) == (2, T + timedelta(seconds=1))
    assert (attempt.variables, attempt.connection_id, attempt.caller_number) == (
        {"name": "Ada"},
        "line",
        None,
    )


@settings(max_examples=200)
@given(
    st.sampled_from(["Asia/Kolkata", "America/Santiago", "Europe/Paris", "Pacific/Apia"]),
    st.lists(st.integers(0, 400 * 86400), min_size=1, max_size=40),
)
def test_local_day_remembered_is_the_local_day(zone: str, offsets: list[int]) -> None:
    """One ``PacingLimits`` asked in any order, across clock changes (Santiago's day that
    ends by going back an hour, Apia's skipped day), answers each moment's own local date."""
    limits = PacingLimits(day_zone=zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seconds in sorted(offsets) + offsets:
        at = start + timedelta(seconds=seconds)
        assert limits.local_day(at) == at.astimezone(ZoneInfo(zone)).date()


def test_quick_init_builds_the_same_values_as_the_dataclass() -> None:
    """A value built by ``quick_init``'s ``__init__`` equals, prints and refuses changes like
    one built by the dataclass's own, with defaults and fresh factory values."""

    def make() -> type[Any]:
        @dataclass(frozen=True)
        class Plain:
            a: int
            b: str = "b"
            c: dict[str, int] = field(default_factory=dict)

        return Plain

    Plain, Quick = make(), quick_init(make())
    assert Quick.__init__ is not Plain.__init__
    for args, kwargs in [((1,), {}), ((1, "x"), {}), ((1,), {"c": {"k": 2}})]:
        plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)
        assert repr(quick) == repr(plain)
        assert (quick.a, quick.b, quick.c) == (plain.a, plain.b, plain.c)
    assert Quick(1).c is not Quick(1).c
    with pytest.raises(FrozenInstanceError):
        Quick(1).a = 2
    with pytest.raises(TypeError):
        Quick()


def test_quick_init_leaves_what_it_cannot_mirror() -> None:
    """A dataclass with ``__post_init__`` keeps its own ``__init__``; a class that is not a
    frozen dataclass is refused."""

    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    init = Checked.__init__
    assert quick_init(Checked).__init__ is init
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
    with pytest.raises(TypeError):
        quick_init(dataclass(type("Loose", (), {"__annotations__": {"a": int}})))


def test_ids_are_the_uuid5_of_their_name() -> None:
    """``uuid5_text`` gives ``str(uuid.uuid5(...))``, which attempt and contact ids are."""
    for name in ["", "k:0", "é:1", "x" * 200]:
        assert uuid5_text(ATTEMPT_NAMESPACE.bytes, name) == str(uuid.uuid5(ATTEMPT_NAMESPACE, name))
    assert attempt_id("k", 3) == str(uuid.uuid5(ATTEMPT_NAMESPACE, "k:3"))
