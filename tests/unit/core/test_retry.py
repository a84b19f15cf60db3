"""Retry policy: both vendors' rules, windows, and budgets."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.core.outcomes import SARVAM_RETRY_CONDITION, Outcome
from ringcast.core.retry import (
    DEFAULT_RETRY_INTERVAL,
    AttemptResult,
    Final,
    Retry,
    RetryPolicy,
    RetryRule,
    decide,
)
from ringcast.core.windows import Slot, Span, WeeklyWindow

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)  # a Monday
ALWAYS = Span()
H = timedelta(hours=1)


def result(outcome: Outcome, minutes: int = 0, **kw) -> AttemptResult:
    return AttemptResult(outcome=outcome, ended_at=T0 + timedelta(minutes=minutes), **kw)


def volubile(max_: int, delay_h: int, on: set[Outcome], qualifiers: frozenset[str] = frozenset()):
    return RetryPolicy(
        max_retries=max_,
        intervals=(timedelta(hours=delay_h),),
        rules=(RetryRule("retry", frozenset(on), qualifiers),),
    )


def sarvam() -> RetryPolicy:
    return RetryPolicy(
        max_retries=3,
        intervals=(timedelta(minutes=10), timedelta(minutes=30)),
        rules=(
            RetryRule("short_duration_retry", shorter_than=timedelta(seconds=10)),
            RetryRule(
                "retry", SARVAM_RETRY_CONDITION["busy"] | SARVAM_RETRY_CONDITION["no_answer"]
            ),
            RetryRule(
                "provider_error_retry",
                SARVAM_RETRY_CONDITION["provider_error"],
                max_retries=1,
                intervals=(timedelta(minutes=6),),
            ),
        ),
    )


def test_volubile_retry_after_delay() -> None:
    """A no-answer retries after the delay; a completed call is final and reached."""
    p = volubile(2, 3, {Outcome.NO_ANSWER})
    got = decide(p, [], result(Outcome.NO_ANSWER), ALWAYS)
    assert got == Retry(T0 + 3 * H, "retry", T0 + 3 * H)
    assert decide(p, [], result(Outcome.COMPLETED), ALWAYS) == Final(reached=True)
    assert decide(p, [], result(Outcome.BUSY), ALWAYS) == Final(reached=False)


def test_volubile_budget_is_spent() -> None:
    """max 2 gives three attempts in all; the third no-answer is final and exhausted."""
    p = volubile(2, 1, {Outcome.NO_ANSWER})
    earlier = [result(Outcome.NO_ANSWER, retry_rule="retry")] * 2
    assert decide(p, earlier, result(Outcome.NO_ANSWER, 200), ALWAYS) == Final(reached=False)
    assert isinstance(decide(p, earlier[:1], result(Outcome.NO_ANSWER, 100), ALWAYS), Retry)


def test_volubile_qualifier_retries_a_completed_call() -> None:
    """A qualifier label in retryOn retries even a connected call."""
    p = volubile(1, 1, set(), frozenset({"callback_requested"}))
    r = result(Outcome.COMPLETED, qualifiers=frozenset({"callback_requested"}))
    assert isinstance(decide(p, [], r, ALWAYS), Retry)


def test_sarvam_interval_list_repeats_its_last_value() -> None:
    """The n-th retry waits the n-th interval; beyond the list the last one repeats."""
    p = RetryPolicy(
        max_retries=5,
        intervals=(timedelta(minutes=10), timedelta(minutes=30)),
        rules=(RetryRule("retry", frozenset({Outcome.BUSY})),),
    )
    waits = []
    history: list[AttemptResult] = []
    for _ in range(4):
        latest = result(Outcome.BUSY)
        got = decide(p, history, latest, ALWAYS)
        assert isinstance(got, Retry)
        waits.append(got.due_at - latest.ended_at)
        history.append(AttemptResult(Outcome.BUSY, T0, retry_rule="retry"))
    assert waits == [timedelta(minutes=m) for m in (10, 30, 30, 30)]


def test_sarvam_max_retries_three_means_four_attempts() -> None:
    """max_retries 3 allows three retries after the first attempt."""
    p = sarvam()
    history = [AttemptResult(Outcome.NO_ANSWER, T0, retry_rule="retry")] * 3
    assert decide(p, history, result(Outcome.NO_ANSWER), ALWAYS) == Final(reached=False)


def test_own_budget_does_not_spend_the_shared_one() -> None:
    """provider_error has its own budget of 1 and its own 6-minute interval."""
    p = sarvam()
    first = decide(p, [], result(Outcome.PROVIDER_ERROR), ALWAYS)
    assert first == Retry(
        T0 + timedelta(minutes=6), "provider_error_retry", T0 + timedelta(minutes=6)
    )
    spent = [AttemptResult(Outcome.PROVIDER_ERROR, T0, retry_rule="provider_error_retry")]
    assert decide(p, spent, result(Outcome.PROVIDER_ERROR), ALWAYS) == Final(reached=False)
    assert isinstance(decide(p, spent, result(Outcome.BUSY), ALWAYS), Retry)


def test_short_duration_retries_a_connected_call() -> None:
    """A connected call shorter than the threshold retries; a longer one is reached."""
    p = sarvam()
    short = result(Outcome.COMPLETED, duration=timedelta(seconds=4))
    assert decide(p, [], short, ALWAYS) == Retry(
        T0 + timedelta(minutes=10), "short_duration_retry", T0 + timedelta(minutes=10)
    )
    long = result(Outcome.COMPLETED, duration=timedelta(seconds=40))
    assert decide(p, [], long, ALWAYS) == Final(reached=True)


def test_empty_interval_list_uses_the_default() -> None:
    """retry_interval_minutes: [] falls back to the documented default wait."""
    p = RetryPolicy(max_retries=1, rules=(RetryRule("retry", frozenset({Outcome.BUSY})),))
    got = decide(p, [], result(Outcome.BUSY), ALWAYS)
    assert isinstance(got, Retry)
    assert got.due_at == T0 + DEFAULT_RETRY_INTERVAL


def test_retry_outside_window_moves_to_next_opening() -> None:
    """A retry due at night waits for the next morning's opening."""
    w = WeeklyWindow("UTC", (Slot(time(9), time(17)),))
    p = volubile(1, 8, {Outcome.NO_ANSWER})
    got = decide(p, [], result(Outcome.NO_ANSWER), w)  # ends 10:00, +8h = 18:00
    assert isinstance(got, Retry)
    assert got.earliest_at == T0 + 8 * H
    assert got.due_at == datetime(2026, 6, 2, 9, tzinfo=UTC)


@settings(max_examples=300)
@given(
    zone=st.sampled_from(
        ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
    ),
    start_h=st.integers(0, 22),
    length_h=st.integers(1, 10),
    days=st.sets(st.integers(0, 6), min_size=1),
    ended_min=st.integers(0, 366 * 24 * 60),
    delay_min=st.integers(1, 72 * 60),
    outcome=st.sampled_from(sorted(Outcome, key=str)),
)
def test_retries_land_in_the_window_and_are_never_lost(
    zone, start_h, length_h, days, ended_min, delay_min, outcome
) -> None:
    """Whenever the policy retries, the due moment is open and no earlier than the delay."""
    end_h = min(start_h + length_h, 23)
    w = WeeklyWindow(zone, (Slot(time(start_h), time(end_h, 59)),), days=frozenset(days))
    p = RetryPolicy(
        max_retries=1,
        intervals=(timedelta(minutes=delay_min),),
        rules=(RetryRule("retry", frozenset(Outcome) - {Outcome.COMPLETED}),),
    )
    r = AttemptResult(outcome, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=ended_min))
    got = decide(p, [], r, w)
    if outcome is Outcome.COMPLETED:
        assert got == Final(reached=True)
        return
    assert isinstance(got, Retry)
    assert got.due_at >= r.ended_at + timedelta(minutes=delay_min)
    assert w.is_open(got.due_at)
