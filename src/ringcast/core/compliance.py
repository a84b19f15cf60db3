"""Calling-hours policies, evaluated in the time of the person called, and the checks
made at the moment of dialling.

The law measures calling hours in the consumer's own zone (France D223-9, US 47 CFR
64.1200(c)(1); see ../shared/reference/calling-rules.md). So each contact gets a window
of its own: the policy's hours in each zone its number may be in (intersected: a number
that maps to several zones is called only when every one of them allows it), without
the country's public holidays. The planner also refuses a number on the organization's
do-not-call list, one called too often lately, and one that refused a call recently.

Policies are data (``POLICIES``); an organization chooses one and a campaign may override
it (``effective_policy``). A call that ends qualified as a refusal starts the cooldown,
one qualified as an opt-out lists the number as do-not-call (``what_was_said``); both
stores keep those records as this module says. Nothing here does I/O: the store loads
the facts about each number (``PhoneFacts``) inside the planning transaction, so a number
added to the do-not-call list is seen by the very next plan.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays
import phonenumbers
from phonenumbers import timezone as number_zones

from ringcast.core.windows import ALL_DAYS, WHOLE_DAY, Slot, WeeklyWindow, Window, intersect

# Why a contact is not dialled now: the reasons users see and the figures count.
OUTSIDE_LOCAL_HOURS = "outside_local_hours"
HOLIDAY = "holiday"
FREQUENCY_CAP = "frequency_cap"
REFUSAL_COOLDOWN = "refusal_cooldown"
DO_NOT_CALL = "do_not_call"
UNKNOWN_TIMEZONE = "unknown_timezone"
PREDIAL_REFUSED = "predial_refused"
REASONS = (
    OUTSIDE_LOCAL_HOURS,
    HOLIDAY,
    FREQUENCY_CAP,
    REFUSAL_COOLDOWN,
    DO_NOT_CALL,
    UNKNOWN_TIMEZONE,
    PREDIAL_REFUSED,
)

#: Qualifiers a call may end with that mean "this person refused" (the 60-day rule) and
#: "never call me again" (added to the do-not-call list). Matched case-insensitively.
REFUSAL_QUALIFIERS = frozenset({"refused", "refusal", "not_interested"})
OPT_OUT_QUALIFIERS = frozenset({"do_not_call", "opt_out", "dnc"})
#: The do-not-call list's ``source`` for a number whose owner opted out during a call.
OPT_OUT_SOURCE = "opt_out"
#: The policy in force when neither the campaign nor its organization chose one.
NO_POLICY = "none"

_WEEKDAYS = frozenset(range(5))


@dataclass(frozen=True)
class Holidays:
    """Public holidays of a country (and subdivision), from the ``holidays`` package."""

    country: str
    subdivision: str | None = None

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in _calendar(self.country, self.subdivision)


@functools.cache
def _calendar(country: str, subdivision: str | None) -> holidays.HolidayBase:
    # The calendar fills in each year the first time a date of that year is asked about.
    return holidays.country_holidays(country, subdiv=subdivision)


@dataclass(frozen=True)
class CallingPolicy:
    name: str
    #: local hours in the called person's zone; empty: no hours of its own
    slots: tuple[Slot, ...] = ()
    days: frozenset[int] = ALL_DAYS
    #: country whose public holidays are closed days (None: holidays are ordinary days)
    holiday_country: str | None = None
    #: stricter local hours by subdivision (US states), replacing ``slots`` there
    stricter: tuple[tuple[str, tuple[Slot, ...]], ...] = ()
    #: at most this many attempts per number per ``period``, across the organization
    max_attempts: int | None = None
    period: timedelta = timedelta(days=30)
    #: no attempt for this long after a call qualified as a refusal
    refusal_cooldown: timedelta | None = None

    @property
    def has_hours(self) -> bool:
        return bool(self.slots) or self.holiday_country is not None or self.days != ALL_DAYS

    def slots_for(self, subdivision: str | None) -> tuple[Slot, ...]:
        stricter = dict(self.stricter).get(subdivision or "")
        return stricter or self.slots or (WHOLE_DAY,)


POLICIES: dict[str, CallingPolicy] = {
    # Code de la consommation D223-9: weekdays except public holidays, 10-13 and 14-20 in
    # the consumer's zone; at most 4 attempts in 30 days; 60 days after a refusal.
    "fr": CallingPolicy(
        "fr",
        (Slot(time(10), time(13)), Slot(time(14), time(20))),
        days=_WEEKDAYS,
        holiday_country="FR",
        max_attempts=4,
        period=timedelta(days=30),
        refusal_cooldown=timedelta(days=60),
    ),
    # 47 CFR 64.1200(c)(1): 08:00-21:00 at the called party's location; Florida's
    # Telephone Solicitation Act ends at 20:00.
    "us": CallingPolicy(
        "us",
        (Slot(time(8), time(21)),),
        stricter=(("FL", (Slot(time(8), time(20)),)),),
    ),
    # TRAI TCCCPR 2018: promotional calls 09:00-21:00.
    "in": CallingPolicy("in", (Slot(time(9), time(21)),)),
    # Only the campaign's own window.
    NO_POLICY: CallingPolicy(NO_POLICY),
}


def effective_policy_name(campaign_policy: str | None, org_policy: str | None) -> str:
    """The name of the policy in force for a campaign: its own, else its organization's,
    else ``none``."""
    return campaign_policy or org_policy or NO_POLICY


def effective_policy(campaign_policy: str | None, org_policy: str | None) -> CallingPolicy:
    """The policy in force for a campaign (a name no longer known reads as ``none``)."""
    return POLICIES.get(effective_policy_name(campaign_policy, org_policy), POLICIES[NO_POLICY])


@dataclass(frozen=True)
class Whereabouts:
    """Where a number's owner is: the zones their number may be in, and their region."""

    zones: tuple[str, ...]  #: empty: unknown
    region: str | None  #: ISO country of the number
    subdivision: str | None  #: e.g. ``FL``, ``57``; None when the number does not say


def locate(phone: str, zone: str | None = None, subdivision: str | None = None) -> Whereabouts:
    """The zones and subdivision of ``phone``; an explicit ``zone`` or ``subdivision``
    (the contact said) wins over what the number suggests."""
    found = _from_number(phone)
    return Whereabouts(
        (zone,) if zone else found.zones, found.region, subdivision or found.subdivision
    )


@functools.lru_cache(maxsize=262_144)
def _from_number(phone: str) -> Whereabouts:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return Whereabouts((), None, None)
    zones = tuple(
        z for z in number_zones.time_zones_for_number(number) if z != number_zones.UNKNOWN_TIMEZONE
    )
    region = phonenumbers.region_code_for_number(number)
    return Whereabouts(zones, region, _subdivision(number, region))


def _subdivision(number: phonenumbers.PhoneNumber, region: str | None) -> str | None:
    if region == "US":
        # Imported here: the geocoder loads every country's place names (~0.4 s), which
        # every command would pay at start-up for the few US numbers that need it.
        from phonenumbers import geocoder

        place = geocoder.description_for_number(number, "en")
        if len(place) > 4 and place[-4:-2] == ", ":  # "Miami, FL"
            return place[-2:]
        return _US_STATES.get(place)  # "Florida"
    if region in _FRENCH_OVERSEAS:  # French overseas departments have their own numbers
        return _FRENCH_OVERSEAS[region]
    return None


_US_STATES: dict[str, str] = {
    name: code
    for name, code in getattr(_calendar("US", None), "subdivisions_aliases", {}).items()
    if len(code) == 2
}
_FRENCH_OVERSEAS = {"GP": "971", "MQ": "972", "GF": "973", "RE": "974", "YT": "976"}


@functools.lru_cache(maxsize=4096)
def local_window(
    policy: CallingPolicy, zones: tuple[str, ...], subdivision: str | None
) -> Window | None:
    """The policy's hours in each of ``zones``, all at once; None if the policy sets none.

    ``zones`` must not be empty: an unknown zone is the caller's to handle (never dial).
    """
    if not policy.has_hours:
        return None
    slots = policy.slots_for(subdivision)
    closed = (
        Holidays(policy.holiday_country, _holiday_subdivision(policy.holiday_country, subdivision))
        if policy.holiday_country
        else None
    )
    return intersect(
        *(WeeklyWindow(z, slots, policy.days, holidays=closed) for z in sorted(set(zones)))
    )


def _holiday_subdivision(country: str, subdivision: str | None) -> str | None:
    known = _calendar(country, None).subdivisions
    return subdivision if subdivision in known else None


@dataclass(frozen=True)
class PhoneFacts:
    """What the organization's records say about one number, read when planning."""

    #: dial moments of the organization's attempts to it within the policy's period
    recent_dials: tuple[datetime, ...] = ()
    last_refusal_at: datetime | None = None
    do_not_call: bool = False


NO_FACTS = PhoneFacts()


@dataclass(frozen=True)
class Hold:
    """A contact may not be dialled now: why, and from when it might be (None: not until
    something changes, or never)."""

    reason: str
    until: datetime | None
    final: bool = False  #: the contact is skipped for good (do-not-call)


def check(
    policy: CallingPolicy,
    where: Whereabouts,
    facts: PhoneFacts,
    campaign_window: Window,
    at: datetime,
) -> Hold | None:
    """Why the number may not be dialled at ``at``, or None if it may.

    Checks in order: do-not-call, unknown zone, local hours and holidays, the frequency
    cap, the refusal cooldown. ``until`` is the first moment the failing check could pass,
    inside the campaign's window (a later check may still hold it then).
    """
    if facts.do_not_call:
        return Hold(DO_NOT_CALL, None, final=True)
    if policy.has_hours and not where.zones:
        return Hold(UNKNOWN_TIMEZONE, None)
    window = local_window(policy, where.zones, where.subdivision) if where.zones else None
    if window is not None and not window.is_open(at):
        reason = HOLIDAY if _holiday_is_why(policy, where, at) else OUTSIDE_LOCAL_HOURS
        return Hold(reason, intersect(campaign_window, window).next_open(at))
    if policy.max_attempts is not None:
        recent = sorted(d for d in facts.recent_dials if d > at - policy.period)
        if len(recent) >= policy.max_attempts:
            # The cap frees a place when the oldest counted attempt leaves the period.
            freed = recent[len(recent) - policy.max_attempts] + policy.period
            return Hold(FREQUENCY_CAP, _open_from(campaign_window, window, freed))
    if policy.refusal_cooldown is not None and facts.last_refusal_at is not None:
        ends = facts.last_refusal_at + policy.refusal_cooldown
        if at < ends:
            return Hold(REFUSAL_COOLDOWN, _open_from(campaign_window, window, ends))
    return None


def _open_from(campaign_window: Window, local: Window | None, at: datetime) -> datetime | None:
    return (intersect(campaign_window, local) if local else campaign_window).next_open(at)


def _holiday_is_why(policy: CallingPolicy, where: Whereabouts, at: datetime) -> bool:
    if policy.holiday_country is None:
        return False
    ordinary = CallingPolicy("hours", policy.slots, policy.days, stricter=policy.stricter)
    hours = local_window(ordinary, where.zones, where.subdivision)
    return hours is None or hours.is_open(at)


def counts_as_refusal(qualifiers: Sequence[str] | frozenset[str]) -> bool:
    return any(q.lower() in REFUSAL_QUALIFIERS for q in qualifiers)


def counts_as_opt_out(qualifiers: Sequence[str] | frozenset[str]) -> bool:
    return any(q.lower() in OPT_OUT_QUALIFIERS for q in qualifiers)


@dataclass(frozen=True)
class Said:
    """What a finished call adds to the organization's compliance records."""

    refused_at: datetime | None = None  #: a refusal: its cooldown runs from then
    opted_out_at: datetime | None = None  #: an opt-out: the number is listed as do-not-call


def what_was_said(qualifiers: Sequence[str] | frozenset[str], ended_at: datetime | None) -> Said:
    """The refusal and the opt-out a call's qualifiers record, dated at the call's end
    (a call without an end records nothing)."""
    if ended_at is None:
        return Said()
    return Said(
        refused_at=ended_at if counts_as_refusal(qualifiers) else None,
        opted_out_at=ended_at if counts_as_opt_out(qualifiers) else None,
    )
