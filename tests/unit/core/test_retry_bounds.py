"""The retry policy's bounds: every surface's retry settings are checked against one set
of limits, and a policy stored before they were checked can still be decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringcast.core.errors import ValidationFailed
from ringcast.core.outcomes import Outcome
from ringcast.core.retry import (
    MAX_RETRIES,
    MAX_RETRY_INTERVAL,
    MAX_SHORT_DURATION,
    AttemptResult,
    Final,
    Retry,
    RetryPolicy,
    RetryRule,
    check_policy,
    decide,
)
from ringcast.core.windows import Span, WeeklyWindow

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
ALWAYS = Span()
NO_ANSWER = RetryRule("retry", frozenset({Outcome.NO_ANSWER}))


def policy(wait: timedelta, **kw) -> RetryPolicy:
    return RetryPolicy(max_retries=3, intervals=(wait,), rules=(NO_ANSWER,), **kw)


def test_a_wait_beyond_the_bound_stored_earlier_is_clamped() -> None:
    """A delay of 70,000,000 hours (stored before delays were bounded) waits the bound,
    instead of overflowing the calendar when the call ends."""
    got = decide(
        policy(timedelta(hours=70_000_000)),
        [],
        AttemptResult(Outcome.NO_ANSWER, T0),
        ALWAYS,
    )
    assert got == Retry(T0 + MAX_RETRY_INTERVAL, "retry", T0 + MAX_RETRY_INTERVAL)


@pytest.mark.parametrize("window", [ALWAYS, WeeklyWindow("Europe/Paris", ())], ids=str)
def test_an_end_at_the_edge_of_the_calendar_is_final_not_an_error(window) -> None:
    """A call reported ended in the last days of year 9999 has no moment to be retried at:
    the decision is final (exhausted) rather than an ``OverflowError``."""
    ended = AttemptResult(Outcome.NO_ANSWER, datetime(9999, 12, 30, tzinfo=UTC))
    assert decide(policy(timedelta(days=7)), [], ended, window) == Final(reached=False)


@given(
    hours=st.integers(min_value=1, max_value=20_000_000_000),  # timedelta holds 24e9
    ended_at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    ),
)
def test_deciding_never_raises_whatever_the_wait_and_the_end(hours, ended_at) -> None:
    """Whatever wait a stored policy holds and whenever a call is said to have ended,
    the decision is a retry within the bound or final: never an exception."""
    got = decide(
        policy(timedelta(hours=hours)), [], AttemptResult(Outcome.NO_ANSWER, ended_at), ALWAYS
    )
    if isinstance(got, Retry):
        assert got.earliest_at - ended_at <= MAX_RETRY_INTERVAL
    else:
        assert got == Final(reached=False)


def test_the_bounds_themselves_pass() -> None:
    """A policy at every bound is accepted."""
    check_policy(
        RetryPolicy(
            max_retries=MAX_RETRIES,
            intervals=(MAX_RETRY_INTERVAL,),
            rules=(
                RetryRule("short", shorter_than=MAX_SHORT_DURATION),
                RetryRule(
                    "own",
                    frozenset({Outcome.PROVIDER_ERROR}),
                    max_retries=MAX_RETRIES,
                    intervals=(MAX_RETRY_INTERVAL,),
                ),
            ),
        )
    )


@pytest.mark.parametrize(
    ("given_policy", "field"),
    [
        (RetryPolicy(max_retries=MAX_RETRIES + 1), "retry.max_retries"),
        (RetryPolicy(max_retries=-1), "retry.max_retries"),
        (policy(MAX_RETRY_INTERVAL + timedelta(seconds=1)), "retry.intervals[0]"),
        (policy(timedelta(0)), "retry.intervals[0]"),
        (
            RetryPolicy(rules=(RetryRule("own", max_retries=10**9),)),
            "retry.rules[own].max_retries",
        ),
        (
            RetryPolicy(rules=(RetryRule("own", intervals=(timedelta(days=10**6),)),)),
            "retry.rules[own].intervals[0]",
        ),
        (
            RetryPolicy(rules=(RetryRule("short", shorter_than=timedelta(days=1)),)),
            "retry.rules[short].shorter_than",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_policy_beyond_a_bound_is_refused_naming_the_field(given_policy, field) -> None:
    """Each count and duration beyond its bound is refused, naming it."""
    with pytest.raises(ValidationFailed) as refused:
        check_policy(given_policy)
    assert [e.field for e in refused.value.errors] == [field]
