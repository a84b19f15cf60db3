"""Voicemail and declined calls in the retry policy, and the voicemail policy's default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ringcast.core.model import CampaignConfig, Schedule, VoicemailAction, VoicemailPolicy
from ringcast.core.outcomes import SARVAM_RETRY_CONDITION, Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import (
    SHARED_RULE,
    AttemptResult,
    Final,
    Retry,
    RetryPolicy,
    RetryRule,
    decide,
    retries_on,
    retry_budget,
    with_retry_on,
)
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Span, WeeklyWindow

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)
ALWAYS = Span()
QUALIFIERS = ("callback_requested", "wrong_person", "voicemail_full")
RULE_NAMES = ("retry", "short_duration_retry", "provider_error_retry", "vip_retry")
TOGGLED = st.sampled_from([Outcome.VOICEMAIL, Outcome.REJECTED])

waits = st.tuples(st.integers(1, 600)).map(lambda t: (timedelta(minutes=t[0]),))


@st.composite
def rules(draw: st.DrawFn, name: str, without: frozenset[Outcome]) -> RetryRule:
    return RetryRule(
        name,
        outcomes=frozenset(draw(st.sets(st.sampled_from(sorted(set(Outcome) - without))))),
        qualifiers=frozenset(draw(st.sets(st.sampled_from(QUALIFIERS)))),
        shorter_than=draw(st.none() | st.integers(1, 60).map(lambda s: timedelta(seconds=s))),
        max_retries=draw(st.none() | st.integers(0, 3)),
        intervals=draw(st.none() | waits),
    )


@st.composite
def policies(draw: st.DrawFn, without: frozenset[Outcome] = frozenset()) -> RetryPolicy:
    names = draw(st.lists(st.sampled_from(RULE_NAMES), unique=True, max_size=4))
    return RetryPolicy(
        max_retries=draw(st.integers(0, 5)),
        intervals=draw(st.just(()) | waits),
        rules=tuple(draw(rules(n, without)) for n in names),
    )


@st.composite
def histories(draw: st.DrawFn, policy: RetryPolicy) -> list[AttemptResult]:
    """Earlier attempts, each retried by one of the policy's own rules (or by none)."""
    names = [r.name for r in policy.rules]
    return [
        AttemptResult(
            draw(st.sampled_from(sorted(Outcome))),
            T0 - timedelta(hours=i + 1),
            retry_rule=draw(st.none() | st.sampled_from(names)) if names else None,
        )
        for i in range(draw(st.integers(0, 4)))
    ]


@st.composite
def results(draw: st.DrawFn, outcome: Outcome) -> AttemptResult:
    return AttemptResult(
        outcome,
        T0,
        duration=draw(st.none() | st.integers(0, 120).map(lambda s: timedelta(seconds=s))),
        qualifiers=frozenset(draw(st.sets(st.sampled_from(QUALIFIERS)))),
    )


def declined() -> AttemptResult:
    # A declined call never reached the agent, so it carries no qualifier label.
    return AttemptResult(Outcome.REJECTED, T0)


@given(data=st.data())
def test_a_declined_call_is_never_retried_without_a_rejected_rule(data: st.DataObject) -> None:
    """A REJECTED outcome is final and unreached under any policy whose rules do not name
    REJECTED, whatever budgets, intervals, durations, qualifiers or history it holds."""
    policy = data.draw(policies(without=frozenset({Outcome.REJECTED})))
    history = data.draw(histories(policy))
    assert decide(policy, history, declined(), ALWAYS) == Final(reached=False)


@given(data=st.data(), outcome=TOGGLED)
def test_turning_a_retry_off_means_never(data: st.DataObject, outcome: Outcome) -> None:
    """Once an outcome's retry is turned off, no rule names it and it is never retried."""
    policy = with_retry_on(data.draw(policies()), outcome, enabled=False)
    assert not retries_on(policy, outcome)
    history = data.draw(histories(policy))
    assert decide(policy, history, AttemptResult(outcome, T0), ALWAYS) == Final(reached=False)


@given(data=st.data(), outcome=TOGGLED)
def test_turning_a_retry_on_retries_while_the_budget_allows(
    data: st.DataObject, outcome: Outcome
) -> None:
    """Once an outcome's retry is turned on, a rule names it, and a first attempt with that
    outcome is retried whenever the rule's budget allows any retry."""
    policy = with_retry_on(data.draw(policies()), outcome, enabled=True)
    assert retries_on(policy, outcome)
    got = decide(policy, [], AttemptResult(outcome, T0), ALWAYS)
    assert isinstance(got, Retry) == (retry_budget(policy, outcome) > 0)


@given(data=st.data(), toggled=TOGGLED, enabled=st.booleans())
def test_toggling_one_outcome_decides_every_other_outcome_as_before(
    data: st.DataObject, toggled: Outcome, enabled: bool
) -> None:
    """Turning voicemail or declined-call retries on or off changes no decision about any
    other outcome, whatever its duration, qualifiers or history."""
    policy = data.draw(policies())
    other = data.draw(st.sampled_from(sorted(set(Outcome) - {toggled, Outcome.IN_PROGRESS})))
    history = data.draw(histories(policy))
    latest = data.draw(results(other))
    changed = with_retry_on(policy, toggled, enabled)
    assert decide(changed, history, latest, ALWAYS) == decide(policy, history, latest, ALWAYS)


def test_an_added_outcome_joins_the_shared_rule_and_its_budget() -> None:
    """Voicemail joins the existing ``retry`` rule, so its retries spend the budget a
    no-answer retry spends too."""
    policy = RetryPolicy(
        max_retries=2,
        intervals=(timedelta(minutes=30),),
        rules=(RetryRule(SHARED_RULE, frozenset({Outcome.NO_ANSWER})),),
    )
    changed = with_retry_on(policy, Outcome.VOICEMAIL, enabled=True)
    assert changed.rules == (
        RetryRule(SHARED_RULE, frozenset({Outcome.NO_ANSWER, Outcome.VOICEMAIL})),
    )
    spent = [
        AttemptResult(Outcome.NO_ANSWER, T0, retry_rule=SHARED_RULE),
        AttemptResult(Outcome.VOICEMAIL, T0, retry_rule=SHARED_RULE),
    ]
    assert decide(changed, spent[:1], AttemptResult(Outcome.VOICEMAIL, T0), ALWAYS) == Retry(
        T0 + timedelta(minutes=30), SHARED_RULE, T0 + timedelta(minutes=30)
    )
    assert decide(changed, spent, AttemptResult(Outcome.VOICEMAIL, T0), ALWAYS) == Final(False)


def test_an_outcome_added_to_a_policy_without_a_shared_rule_gets_one_at_the_end() -> None:
    """A policy with only rules of their own budget gains a ``retry`` rule after them."""
    own = RetryRule("provider_error_retry", frozenset({Outcome.PROVIDER_ERROR}), max_retries=1)
    policy = RetryPolicy(max_retries=3, rules=(own,))
    changed = with_retry_on(policy, Outcome.REJECTED, enabled=True)
    assert changed.rules == (own, RetryRule(SHARED_RULE, frozenset({Outcome.REJECTED})))
    assert retry_budget(changed, Outcome.REJECTED) == 3
    assert with_retry_on(changed, Outcome.REJECTED, enabled=True) == changed


def test_turning_off_keeps_the_emptied_rule_so_its_retries_still_count() -> None:
    """Removing the only outcome of ``retry`` keeps the rule: the retries it made earlier
    still spend the budget the short-duration rule shares."""
    short = RetryRule("short_duration_retry", shorter_than=timedelta(seconds=10))
    policy = RetryPolicy(
        max_retries=1, rules=(short, RetryRule(SHARED_RULE, frozenset({Outcome.VOICEMAIL})))
    )
    changed = with_retry_on(policy, Outcome.VOICEMAIL, enabled=False)
    assert changed.rules == (short, RetryRule(SHARED_RULE))
    spent = [AttemptResult(Outcome.VOICEMAIL, T0, retry_rule=SHARED_RULE)]
    brief = AttemptResult(Outcome.COMPLETED, T0, duration=timedelta(seconds=3))
    assert decide(changed, spent, brief, ALWAYS) == Final(reached=True)


def test_sarvam_busy_no_longer_covers_a_declined_call_but_no_answer_covers_voicemail() -> None:
    """Sarvam's busy condition retries a busy line only; its no_answer condition retries
    voicemail with a missed call."""
    assert SARVAM_RETRY_CONDITION["busy"] == {Outcome.BUSY}
    assert SARVAM_RETRY_CONDITION["no_answer"] == {Outcome.NO_ANSWER, Outcome.VOICEMAIL}


def test_a_campaign_without_a_voicemail_policy_lets_the_agent_handle_it() -> None:
    """The default voicemail policy is ``agent`` with no message: today's behaviour."""
    config = CampaignConfig(
        id="c",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("UTC", ())),
        pacing=PacingLimits(),
        retry=RetryPolicy(),
    )
    assert config.voicemail == VoicemailPolicy(VoicemailAction.AGENT, None, None)
