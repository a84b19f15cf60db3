"""Caller numbers: which number a contact is shown, and how often each number may dial.

Carriers and phones flag a number that calls too often, and people decline a number that
changes on every call. So, for each dial on a connection:

* a contact keeps its number: the same caller number for every attempt while that number
  is available (a stable hash of the contact id picks it);
* local presence: a number of the contact's own country and area code is preferred, then
  one of its country, then any;
* each caller number is capped per hour and per day (the connection's settings), counted
  in UTC calendar hours and days of the dial slot, shared by every campaign and worker (the
  store keeps the counts under the connection's row lock, like the connection's own
  counters). A number at its cap is skipped; when every number is, the connection cannot
  carry the dial and the contact stays due until the next hour or day begins.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import phonenumbers

from ringcast.core.jitter import stable_uniform


@dataclass(frozen=True)
class CallerCaps:
    """A connection's limits per caller number; None: no limit."""

    max_per_hour: int | None = None
    max_per_day: int | None = None

    @property
    def any(self) -> bool:
        return self.max_per_hour is not None or self.max_per_day is not None


@dataclass(frozen=True)
class CallerUsage:
    """How many dials one caller number made in the hour and the day that hold ``hour``."""

    hour: datetime  #: start of the UTC hour counted
    in_hour: int = 0
    in_day: int = 0  #: dials in the UTC day that holds ``hour``

    def counted_at(self, at: datetime) -> tuple[int, int]:
        """(dials this hour, dials this day) as seen from a dial at ``at``."""
        start = hour_of(at)
        if start == self.hour:
            return self.in_hour, self.in_day
        if start.date() == self.hour.date():
            return 0, self.in_day
        return 0, 0

    def after_dial(self, at: datetime) -> CallerUsage:
        in_hour, in_day = self.counted_at(at)
        return CallerUsage(hour_of(at), in_hour + 1, in_day + 1)


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour that holds ``at``."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def admits(caps: CallerCaps, usage: CallerUsage | None, at: datetime) -> bool:
    """Whether a number with this usage may dial at ``at``."""
    if not caps.any or usage is None:
        return True
    in_hour, in_day = usage.counted_at(at)
    if caps.max_per_hour is not None and in_hour >= caps.max_per_hour:
        return False
    return caps.max_per_day is None or in_day < caps.max_per_day


def next_free(
    caps: CallerCaps, usage: Mapping[str, CallerUsage], numbers: Sequence[str], at: datetime
) -> datetime:
    """When one of ``numbers`` may dial again, given that none may at ``at``."""
    next_hour = hour_of(at) + timedelta(hours=1)
    next_day = datetime.combine(
        hour_of(at).date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC
    )
    soonest = next_day
    for number in numbers:
        u = usage.get(number)
        in_day = u.counted_at(at)[1] if u is not None else 0
        if caps.max_per_day is None or in_day < caps.max_per_day:
            soonest = min(soonest, next_hour)  # only the hour's cap holds it back
    return soonest


@functools.lru_cache(maxsize=65536)
def presence(phone: str) -> tuple[str, str]:
    """(country calling code, country code + area code) of an E.164 number; empty when
    the number cannot be read."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return "", ""
    national = phonenumbers.national_significant_number(parsed)
    area = phonenumbers.length_of_geographical_area_code(parsed)
    if area == 0:
        area = phonenumbers.length_of_national_destination_code(parsed)
    country = str(parsed.country_code)
    return country, f"{country}:{national[:area]}" if area else ""


def pick(
    numbers: Sequence[str],
    contact_id: str,
    contact_phone: str,
    caps: CallerCaps,
    usage: Mapping[str, CallerUsage],
    at: datetime,
) -> str | None:
    """The caller number for a contact's dial at ``at``: its own number while available,
    local first; None when ``numbers`` is empty or every one is at its cap."""
    if not numbers:
        return None
    country, area = presence(contact_phone)
    tiers: list[list[str]] = [[], [], []]
    for n in numbers:
        n_country, n_area = presence(n)
        if area and n_area == area:
            tiers[0].append(n)
        elif country and n_country == country:
            tiers[1].append(n)
        else:
            tiers[2].append(n)
    for tier in tiers:
        if not tier:
            continue
        preferred = tier[int(stable_uniform(0, contact_id, "caller") * len(tier))]
        if admits(caps, usage.get(preferred), at):
            return preferred
        free = [n for n in tier if admits(caps, usage.get(n), at)]
        if free:
            return free[int(stable_uniform(0, contact_id, "caller-fallback") * len(free))]
    return None
