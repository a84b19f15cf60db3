"""Retry policy: after an attempt ends, when to try again, or that the contact is final.

One policy type holds both vendors' rules:

* Volubile: ``max`` retries (0-3) after ``delay`` hours, on ``retryOn`` call statuses and
  qualifier labels. That is one rule sharing the policy's budget and interval.
* Sarvam: ``max_retries`` (3 means up to 4 attempts), a switch per outcome condition,
  ``short_duration`` below a threshold, and ``provider_error`` / ``internal_error`` with
  budgets and intervals of their own. ``retry_interval_minutes`` may be a list: the n-th
  retry waits the n-th interval, the last repeating.

A rule with its own budget counts only the retries it triggered; the others share the
policy's budget. A retry that falls outside the calling window moves to the next
opening; if the window never opens again the contact stays waiting at its earliest
moment, visible, rather than being dropped.

Voicemail and a declined call are retried like any other outcome: when a rule names
them. Neither vendor's body can say "retry voicemail but not a missed call" or "retry a
declined call" in Sarvam's words, so ``with_retry_on`` adds or removes one outcome in
a policy, on the shared budget, whichever vendor's body made it (the native API's
``retry_on_voicemail`` and ``retry_on_rejected``). A declined call is never retried
unless a rule names ``REJECTED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from ringcast.core.errors import FieldError, ValidationFailed
from ringcast.core.outcomes import Outcome
from ringcast.core.values import quick_init
from ringcast.core.windows import Window

#: Wait used when a policy gives no interval at all (Sarvam's ``retry_interval_minutes: []``).
DEFAULT_RETRY_INTERVAL = timedelta(minutes=30)

#: The bounds every surface's retry settings are checked against (``check_policy``), the
#: largest either vendor documents: Sarvam's 20 retries and 10,080-minute interval (a
#: week, also Volubile's ``delay`` of 168 hours at most) and its one-hour short call.
#: A wait beyond them is not a retry anyone means, and far enough out it is not a date
#: at all: a ``delay`` of 70,000,000 hours overflowed the calendar when a call ended.
MAX_RETRIES = 20
MAX_RETRY_INTERVAL = timedelta(days=7)
MAX_SHORT_DURATION = timedelta(hours=1)

#: The rule both vendors' plain outcomes retry under (a Sarvam webhook shows the name as
#: ``next_action_status``); an outcome added on the shared budget joins it.
SHARED_RULE = "retry"


@quick_init
@dataclass(frozen=True)
class RetryRule:
    """One reason to try again, with an optional budget and schedule of its own."""

    name: str  #: e.g. ``retry``, ``short_duration_retry``, ``provider_error_retry``
    outcomes: frozenset[Outcome] = frozenset()  #: outcomes that trigger it
    qualifiers: frozenset[str] = frozenset()  #: qualifier labels that trigger it
    #: Connected calls shorter than this trigger it (Sarvam's ``short_duration``).
    shorter_than: timedelta | None = None
    max_retries: int | None = None  #: own budget; None shares the policy's
    intervals: tuple[timedelta, ...] | None = None  #: own waits; None uses the policy's

    def matches(self, result: AttemptResult) -> bool:
        if result.outcome in self.outcomes:
            return True
        if self.qualifiers & result.qualifiers:
            return True
        return (
            self.shorter_than is not None
            and result.outcome.connected
            and result.duration is not None
            and result.duration < self.shorter_than
        )


@quick_init
@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 0  #: retries after the first attempt shared by rules without a budget
    intervals: tuple[timedelta, ...] = ()  #: n-th retry waits the n-th, the last repeating
    rules: tuple[RetryRule, ...] = ()  #: checked in order; the first match decides

    def interval(self, rule: RetryRule, nth: int) -> timedelta:
        """The wait before the ``nth`` retry (1-based) triggered by ``rule``, at most
        ``MAX_RETRY_INTERVAL`` (a policy stored before the bounds were checked)."""
        waits = rule.intervals if rule.intervals is not None else self.intervals
        if not waits:
            return DEFAULT_RETRY_INTERVAL
        return min(waits[min(nth, len(waits)) - 1], MAX_RETRY_INTERVAL)


@quick_init
@dataclass(frozen=True)
class AttemptResult:
    """What one finished attempt tells the retry policy."""

    outcome: Outcome
    ended_at: datetime
    duration: timedelta | None = None
    qualifiers: frozenset[str] = field(default=frozenset())
    retry_rule: str | None = None  #: the rule that scheduled the retry after this attempt


class Retried(Protocol):
    """An earlier attempt as the retry policy reads it: which rule retried it, if any (an
    ``AttemptResult``, or the ``Attempt`` itself, saving a copy per attempt)."""

    @property
    def retry_rule(self) -> str | None: ...


@quick_init
@dataclass(frozen=True)
class Retry:
    due_at: datetime
    rule: str  #: the rule that fired, e.g. ``provider_error_retry``
    earliest_at: datetime  #: before moving into the window


@quick_init
@dataclass(frozen=True)
class Final:
    reached: bool  #: True: reached; False: exhausted (every retry spent or none allowed)


def decide(
    policy: RetryPolicy,
    history: Sequence[Retried],
    latest: AttemptResult,
    window: Window,
) -> Retry | Final:
    """Decide what follows ``latest``, given the earlier attempts of the same contact.

    Args:
        policy: the campaign's retry policy.
        history: earlier attempts, oldest first, each with the rule that retried it.
        latest: the attempt that just ended.
        window: when calls may be placed; a retry is moved to its next opening.
    """
    for rule in policy.rules:
        if not rule.matches(latest):
            continue
        if rule.max_retries is not None:
            used = sum(1 for a in history if a.retry_rule == rule.name)
            budget = rule.max_retries
        else:
            shared = {r.name for r in policy.rules if r.max_retries is None}
            used = sum(1 for a in history if a.retry_rule in shared)
            budget = policy.max_retries
        if used >= budget:
            break
        try:
            earliest = latest.ended_at + policy.interval(rule, used + 1)
            opening = window.next_open(earliest)
        except OverflowError:
            # An end reported at the edge of the calendar (year 9999) has no moment
            # after it to retry at: the contact is final rather than its end unwritable.
            break
        return Retry(due_at=opening or earliest, rule=rule.name, earliest_at=earliest)
    return Final(reached=latest.outcome.connected)


def check_policy(policy: RetryPolicy) -> None:
    """Refuse a policy beyond the bounds every surface shares (``ValidationFailed`` naming
    the policy's own field: each surface's schema names its own first, this is the rule
    they are drawn from and the last word for a path that has no schema)."""
    errors: list[FieldError] = []

    def count(field: str, value: int) -> None:
        if not 0 <= value <= MAX_RETRIES:
            errors.append(FieldError(field, value, f"must be between 0 and {MAX_RETRIES}"))

    def waits(field: str, values: Sequence[timedelta]) -> None:
        for i, wait in enumerate(values):
            if not timedelta(0) < wait <= MAX_RETRY_INTERVAL:
                errors.append(
                    FieldError(
                        f"{field}[{i}]",
                        wait.total_seconds(),
                        f"must be more than 0 and at most {_minutes(MAX_RETRY_INTERVAL)} minutes",
                    )
                )

    count("retry.max_retries", policy.max_retries)
    waits("retry.intervals", policy.intervals)
    for rule in policy.rules:
        where = f"retry.rules[{rule.name}]"
        if rule.max_retries is not None:
            count(f"{where}.max_retries", rule.max_retries)
        if rule.intervals is not None:
            waits(f"{where}.intervals", rule.intervals)
        if rule.shorter_than is not None and not (
            timedelta(0) < rule.shorter_than <= MAX_SHORT_DURATION
        ):
            errors.append(
                FieldError(
                    f"{where}.shorter_than",
                    rule.shorter_than.total_seconds(),
                    f"must be more than 0 and at most {MAX_SHORT_DURATION.total_seconds():g} s",
                )
            )
    if errors:
        raise ValidationFailed(errors)


def _minutes(wait: timedelta) -> str:
    return f"{wait.total_seconds() / 60:g}"


def retries_on(policy: RetryPolicy, outcome: Outcome) -> bool:
    """Whether a rule of the policy names ``outcome`` (its budget may still be spent)."""
    return any(outcome in rule.outcomes for rule in policy.rules)


def retry_budget(policy: RetryPolicy, outcome: Outcome) -> int:
    """How many retries the first rule naming ``outcome`` allows; 0 when none names it."""
    for rule in policy.rules:
        if outcome in rule.outcomes:
            return policy.max_retries if rule.max_retries is None else rule.max_retries
    return 0


def with_retry_on(policy: RetryPolicy, outcome: Outcome, enabled: bool) -> RetryPolicy:
    """The policy retrying ``outcome`` on the shared budget, or (not ``enabled``) by no rule.

    Enabling an outcome some rule already names changes nothing. Otherwise the outcome
    joins the ``SHARED_RULE`` rule, made at the end if the policy has none: it cannot
    shadow an earlier rule, since no other rule names the outcome. Disabling empties no
    rule out of the policy: a rule left matching nothing stays, so the retries it made
    earlier still count against the shared budget. Every other outcome is decided as
    before either way (given a history that this policy's own rules made).
    """
    if enabled:
        if retries_on(policy, outcome):
            return policy
        names = [rule.name for rule in policy.rules]
        if SHARED_RULE not in names:
            added = RetryRule(SHARED_RULE, frozenset({outcome}))
            return replace(policy, rules=(*policy.rules, added))
        rules = tuple(
            replace(rule, outcomes=rule.outcomes | {outcome}) if rule.name == SHARED_RULE else rule
            for rule in policy.rules
        )
        return replace(policy, rules=rules)
    rules = tuple(
        replace(rule, outcomes=rule.outcomes - {outcome}) if outcome in rule.outcomes else rule
        for rule in policy.rules
    )
    return replace(policy, rules=rules)
