"""Pacing: how many calls may start, and when, given limits and counters.

Attempts per second is enforced as a spacing: dial slots are ``1 / attempts_per_second``
apart, so no second ever holds more than the rate and unused capacity is never banked
into a burst (Sarvam's documented rule). Calls per day count dials in the campaign's
local day. Concurrency counts calls in progress. All of it is arithmetic over counters
and ``now``; the store keeps the counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from ringcast.core.values import quick_init
from ringcast.core.windows import zone_info

_TICK = timedelta(microseconds=1)

MIN_ATTEMPTS_PER_SECOND = 0.1
MAX_ATTEMPTS_PER_SECOND = 500.0


@dataclass(frozen=True)
class PacingLimits:
    attempts_per_second: float | None = None  #: None: no rate limit
    calls_per_day: int | None = None  #: dials per local day of ``day_zone``; None: no cap
    max_concurrent: int | None = None  #: calls in progress at once; None: no cap
    day_zone: str = "UTC"  #: zone whose midnight starts a new calling day

    def __post_init__(self) -> None:
        aps = self.attempts_per_second
        if aps is not None and not MIN_ATTEMPTS_PER_SECOND <= aps <= MAX_ATTEMPTS_PER_SECOND:
            raise ValueError(
                f"attempts_per_second must be between {MIN_ATTEMPTS_PER_SECOND} and "
                f"{MAX_ATTEMPTS_PER_SECOND}, got {aps}"
            )

    @cached_property  # asked several times in every planning step
    def spacing(self) -> timedelta | None:
        if self.attempts_per_second is None:
            return None
        return timedelta(seconds=1 / self.attempts_per_second)

    def local_day(self, at: datetime) -> date:
        # Asked for every dial; a day's answer is remembered for the stretch from the
        # moment asked to the next local midnight, over which it cannot change.
        known: tuple[datetime, datetime, date] | None = self.__dict__.get("_day")
        if known is not None and known[0] <= at < known[1]:
            return known[2]
        tz = zone_info(self.day_zone)
        wall = at.astimezone(tz)
        day = wall.date()
        until = next_local_midnight(at, self.day_zone)
        last = (until - _TICK).astimezone(tz)
        # remembered only where the offset holds all along (a clock change inside the
        # stretch, e.g. a day that ends by going back an hour, is computed every time)
        if last.date() == day and last.utcoffset() == wall.utcoffset():
            self.__dict__["_day"] = (at, until, day)
        return day


@quick_init
@dataclass(frozen=True)
class PacingCounters:
    in_flight: int = 0  #: calls dialled and not finished
    next_slot_at: datetime | None = None  #: earliest moment the rate allows the next dial
    day: date | None = None  #: the local day ``dialed_today`` counts
    dialed_today: int = 0


@quick_init
@dataclass(frozen=True)
class Budget:
    """The dial moments allowed from now until the horizon, and when more may come."""

    slots: tuple[datetime, ...]
    #: Why the budget is not larger: ``rate``, ``concurrency``, ``daily`` or ``horizon``.
    limited_by: str
    #: When asking again could give more, if a counter other than in-flight limits it.
    retry_at: datetime | None


def dial_budget(
    limits: PacingLimits, counters: PacingCounters, now: datetime, horizon: timedelta, wanted: int
) -> Budget:
    """Dial moments in ``[now, now + horizon)``, at most ``wanted`` of them.

    The caller places the n-th call at ``slots[n]``; the spacing between slots is what keeps
    the per-second rate exact even when one tick dials many calls.
    """
    count, limited_by, retry_at = wanted, "wanted", None
    if limits.max_concurrent is not None:
        room = max(0, limits.max_concurrent - counters.in_flight)
        if room < count:
            count, limited_by = room, "concurrency"
    if limits.calls_per_day is not None:
        dialed = counters.dialed_today if counters.day == limits.local_day(now) else 0
        room = max(0, limits.calls_per_day - dialed)
        if room < count:
            count, limited_by = room, "daily"
            retry_at = next_local_midnight(now, limits.day_zone)
    first = now if counters.next_slot_at is None else max(now, counters.next_slot_at)
    spacing = limits.spacing
    if spacing is None:
        return Budget(tuple([first] * count) if first < now + horizon else (), limited_by, retry_at)
    end = now + horizon
    slots: list[datetime] = []
    at = first
    while len(slots) < count and at < end:
        slots.append(at)
        at += spacing
    if len(slots) < count:
        limited_by, retry_at = "rate", at
    return Budget(tuple(slots), limited_by, retry_at)


def after_dials(
    limits: PacingLimits, counters: PacingCounters, dialed_at: list[datetime]
) -> PacingCounters:
    """Counters once calls have been dialled at the given moments (in time order)."""
    if not dialed_at:
        return counters
    day, today = counters.day, counters.dialed_today
    for at in dialed_at:
        d = limits.local_day(at)
        if d != day:
            day, today = d, 0
        today += 1
    spacing = limits.spacing
    next_slot = dialed_at[-1] + spacing if spacing is not None else None
    return PacingCounters(
        in_flight=counters.in_flight + len(dialed_at),
        next_slot_at=next_slot,
        day=day,
        dialed_today=today,
    )


def next_local_midnight(at: datetime, zone: str) -> datetime:
    """The first instant of the next local day in ``zone`` (DST-safe)."""
    tz = zone_info(zone)
    local = at.astimezone(tz)
    nxt = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    # A zone that skips midnight (a DST gap at 00:00) starts the day at the gap's end;
    # fold=0 resolves the wall time to the first instant it could mean.
    return nxt.astimezone(at.tzinfo)
