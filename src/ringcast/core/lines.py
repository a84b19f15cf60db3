"""Telephone connections as the planner sees them: limits shared by every campaign.

A connection (a SIP trunk, a carrier account) has its own attempts per second and calls
at once, whoever dials through it. Each planning step gets, for the connections its
campaign routes to, their limits and their counters as committed (the store holds their
rows locked for the step, so two campaigns never hand out the same slot); the step gives
a dial to a connection only if the connection is free at the dial's own pacing slot.
A dial no connection can carry stays with its contact, who stays due: nothing is
dropped, the campaign just looks again when a connection frees up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ringcast.core import callers
from ringcast.core.callers import CallerCaps, CallerUsage
from ringcast.core.pacing import PacingCounters, PacingLimits, after_dials

#: How soon a campaign looks again when every connection it may use is full: a call's
#: end on a shared connection does not wake the other campaigns that use it.
LINE_BUSY_WAIT = timedelta(seconds=1)

#: How much later than a shared connection frees up the campaign that just used it looks
#: again, so that campaigns waiting for it take turns with it (see ``tick.decide``).
LINE_TURN = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Line:
    """One registered connection: its limits, its shared counters, its caller numbers."""

    limits: PacingLimits = field(default_factory=PacingLimits)
    counters: PacingCounters = field(default_factory=PacingCounters)
    #: numbers to show when the campaign's route names none
    caller_numbers: tuple[str, ...] = ()
    #: each caller number's limits, and what each number has dialled (as committed)
    caller_caps: CallerCaps = field(default_factory=CallerCaps)
    caller_usage: Mapping[str, CallerUsage] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        cap = self.limits.max_concurrent
        return cap is not None and self.counters.in_flight >= cap

    def admits(self, at: datetime) -> bool:
        """Whether a dial at ``at`` keeps within this connection's limits."""
        if self.full:
            return False
        return self.counters.next_slot_at is None or self.counters.next_slot_at <= at

    def caller_for(
        self, numbers: Sequence[str], contact_id: str, phone: str, at: datetime
    ) -> str | None:
        """The number this contact is shown at ``at`` (``callers.pick``) among ``numbers``,
        or this line's own when the route names none; None when every one is capped."""
        return callers.pick(
            numbers or self.caller_numbers,
            contact_id,
            phone,
            self.caller_caps,
            self.caller_usage,
            at,
        )

    def free_at(self, now: datetime, numbers: Sequence[str] = ()) -> datetime:
        """When it may admit a dial again, as far as this step can tell (with ``numbers``,
        or its own, as the caller numbers a dial would need)."""
        if self.full:
            return now + LINE_BUSY_WAIT
        at = max(now, self.counters.next_slot_at or now)
        shown = tuple(numbers) or self.caller_numbers
        if shown and not any(
            callers.admits(self.caller_caps, self.caller_usage.get(n), at) for n in shown
        ):
            return callers.next_free(self.caller_caps, self.caller_usage, shown, at)
        return at

    def carrying(self, at: datetime, caller: str | None = None) -> Line:
        """The line once a dial at ``at`` goes out on it, showing ``caller``."""
        usage = self.caller_usage
        if caller is not None and self.caller_caps.any:
            before = usage.get(caller) or CallerUsage(callers.hour_of(at))
            usage = {**usage, caller: before.after_dial(at)}
        return replace(
            self, counters=after_dials(self.limits, self.counters, [at]), caller_usage=usage
        )
