"""Calling windows: when calls may be placed.

A moment is open when its local wall time, in the window's IANA zone, falls on an
allowed day, inside an allowed date range and inside one of the daily slots (half-open:
``10:00-13:00`` admits 12:59:59 and refuses 13:00). That is how the law and people read
calling hours, and it is the definition every test oracle uses.

Daylight saving makes wall time jump: a wall time may not exist (the spring gap) or
exist twice (the autumn fold). ``next_open`` and ``next_close`` therefore never build
instants from wall times directly. For one local date and slot they split the UTC time
line around it into stretches of constant UTC offset (found by bisection on
``utcoffset``), and within each stretch the wall-time interval maps to exactly one UTC
interval. The union of those is precisely the set of open instants, gaps and folds
included.

Windows compose by intersection (campaign window AND legal hours AND the contact's own
hours): an intersection is open when every part is.
"""

from __future__ import annotations

import functools
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

#: How far ahead a search for the next opening looks before concluding there is none.
SEARCH_HORIZON = timedelta(days=800)

_ONE_DAY = timedelta(days=1)


class Window(Protocol):
    """Anything that can say when calls are allowed."""

    def is_open(self, at: datetime) -> bool:
        """Whether calls may be placed at the aware instant ``at``."""
        ...

    def next_open(self, after: datetime) -> datetime | None:
        """The first open instant at or after ``after``, or None if it never opens again."""
        ...

    def next_close(self, after: datetime) -> datetime | None:
        """The first closed instant at or after ``after``, or None if it never closes."""
        ...


@functools.cache
def zone_info(name: str) -> ZoneInfo:
    """``ZoneInfo(name)``, kept: ZoneInfo's own cache holds only a few zones strongly, and
    a contact whose number spans forty zones would reload their data on every check."""
    return ZoneInfo(name)


@dataclass(frozen=True, order=True)
class Slot:
    """A daily slot of local wall time, half-open: ``[start, end)``."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"slot start {self.start} must be before end {self.end}")

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def clip_slots(slots: Iterable[Slot], allowed: Iterable[Slot]) -> tuple[Slot, ...]:
    """The parts of ``slots`` that lie inside ``allowed``, merged and sorted."""
    allowed = tuple(allowed)
    pieces: list[Slot] = []
    for s in slots:
        for a in allowed:
            start, end = max(s.start, a.start), min(s.end, a.end)
            if start < end:
                pieces.append(Slot(start, end))
    return merge_slots(pieces)


def merge_slots(slots: Iterable[Slot]) -> tuple[Slot, ...]:
    """Sort slots and merge those that overlap or touch."""
    merged: list[Slot] = []
    for s in sorted(slots):
        if merged and s.start <= merged[-1].end:
            merged[-1] = Slot(merged[-1].start, max(merged[-1].end, s.end))
        else:
            merged.append(s)
    return tuple(merged)


ALL_DAYS = frozenset(range(7))  # Monday is 0, as in date.weekday()
WHOLE_DAY = Slot(time(0), time.max)


# --- remembered spans -------------------------------------------------------------------
# The planner asks a window "open now? closes when?" on every pass, at moments close to
# each other. Between a moment and the window's next change the answer cannot change, so
# each window remembers a few such spans: (from, until the change, open?). They live in the
# instance's __dict__, outside the frozen fields, and do not take part in equality.
_SPANS_KEPT = 4


class _RemembersSpans:
    """The public questions, answered from the remembered spans; a window subclass says
    only how to compute an answer (``_open_at``, ``_opens_after``, ``_closes_after``)."""

    def _open_at(self, at: datetime) -> bool:
        raise NotImplementedError

    def _opens_after(self, after: datetime) -> datetime | None:
        """The next opening, for a moment when the window is closed."""
        raise NotImplementedError

    def _closes_after(self, after: datetime) -> datetime | None:
        """The next closing, for a moment when the window is open."""
        raise NotImplementedError

    def _state(self, at: datetime) -> tuple[bool, datetime | None]:
        """Whether the window is open at ``at``, and when that next changes (None: never)."""
        spans: list[tuple[datetime, datetime | None, bool]] = self.__dict__.setdefault("_spans", [])
        for lo, hi, is_open in spans:
            if lo <= at and (hi is None or at < hi):
                return is_open, hi
        is_open = self._open_at(at)
        change = self._closes_after(at) if is_open else self._opens_after(at)
        if len(spans) >= _SPANS_KEPT:
            spans.pop(0)
        spans.append((at, change, is_open))
        return is_open, change

    def is_open(self, at: datetime) -> bool:
        return self._state(at)[0]

    def next_open(self, after: datetime) -> datetime | None:
        is_open, change = self._state(after)
        return after if is_open else change

    def next_close(self, after: datetime) -> datetime | None:
        is_open, change = self._state(after)
        return change if is_open else after


@dataclass(frozen=True)
class WeeklyWindow(_RemembersSpans):
    """Days of the week and daily slots in one IANA zone, within optional dates."""

    zone: str  #: IANA zone name, e.g. ``Europe/Paris``
    slots: tuple[Slot, ...]
    days: frozenset[int] = ALL_DAYS  #: weekdays, Monday = 0
    first_date: date | None = None  #: first local date calls may be placed (inclusive)
    last_date: date | None = None  #: last local date calls may be placed (inclusive)
    excluded_dates: frozenset[date] = field(default=frozenset())  #: closed local dates
    #: closed local dates without end, e.g. a country's public holidays
    holidays: Container[date] | None = None

    def __post_init__(self) -> None:
        ZoneInfo(self.zone)  # fail at construction, not at the first dial
        object.__setattr__(self, "slots", merge_slots(self.slots))

    @property
    def tz(self) -> ZoneInfo:
        return zone_info(self.zone)

    def date_allowed(self, d: date) -> bool:
        return (
            d.weekday() in self.days
            and (self.first_date is None or d >= self.first_date)
            and (self.last_date is None or d <= self.last_date)
            and d not in self.excluded_dates
            and (self.holidays is None or d not in self.holidays)
        )

    def _open_at(self, at: datetime) -> bool:
        wall = at.astimezone(self.tz)
        return self.date_allowed(wall.date()) and any(s.contains(wall.time()) for s in self.slots)

    def _opens_after(self, after: datetime) -> datetime | None:
        """The next opening, for a moment when the window is closed."""
        for start, end in self._intervals_from(after):
            if end > after:
                return max(start, after)
        return None

    def _closes_after(self, after: datetime) -> datetime | None:
        """The next closing, for a moment when the window is open."""
        closes_at: datetime | None = None
        for start, end in self._intervals_from(after):
            if closes_at is None:
                if start <= after < end:
                    closes_at = end
            elif start <= closes_at:  # the next interval starts where this one ends
                closes_at = max(closes_at, end)
            else:
                break
        return closes_at

    def _intervals_from(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open UTC intervals in time order, starting with the local day before ``after``."""
        if not self.slots or not self.days:
            return
        local_date = after.astimezone(self.tz).date()
        day = local_date - _ONE_DAY
        if self.first_date is not None and day < self.first_date:
            day = self.first_date
        stop = local_date + SEARCH_HORIZON
        while day <= stop and (self.last_date is None or day <= self.last_date):
            if self.date_allowed(day):
                for slot in self.slots:
                    yield from _utc_intervals(self.zone, day, slot.start, slot.end)
            day += _ONE_DAY


@functools.lru_cache(maxsize=65536)
def _utc_intervals(
    zone: str, day: date, start: time, end: time
) -> tuple[tuple[datetime, datetime], ...]:
    """The UTC intervals whose wall time in ``zone`` lies in ``[day start, day end)``."""
    wall_start = datetime.combine(day, start)
    wall_end = datetime.combine(day, end)
    # UTC offsets lie within -12h..+14h, so this span covers every instant whose wall
    # time can fall in the slot.
    span_start = (wall_start - timedelta(hours=15)).replace(tzinfo=UTC)
    span_end = (wall_end + timedelta(hours=13)).replace(tzinfo=UTC)
    out: list[tuple[datetime, datetime]] = []
    for seg_start, seg_end, offset in _constant_offset_segments(
        zone_info(zone), span_start, span_end
    ):
        lo = max(seg_start, (wall_start - offset).replace(tzinfo=UTC))
        hi = min(seg_end, (wall_end - offset).replace(tzinfo=UTC))
        if lo < hi:
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
    return tuple(out)


def _constant_offset_segments(
    tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split ``[start, end)`` (UTC) into stretches over which ``tz`` keeps one UTC offset."""
    step = timedelta(hours=1)
    segments: list[tuple[datetime, datetime, timedelta]] = []
    seg_start, offset = start, _offset(tz, start)
    probe = start
    while probe < end:
        nxt = min(probe + step, end)
        if _offset(tz, nxt) != offset:
            change = _bisect_change(tz, probe, nxt, offset)
            segments.append((seg_start, change, offset))
            seg_start, offset = change, _offset(tz, change)
        probe = nxt
    segments.append((seg_start, end, offset))
    return segments


def _offset(tz: ZoneInfo, at: datetime) -> timedelta:
    off = at.astimezone(tz).utcoffset()
    assert off is not None  # a ZoneInfo always knows its offset
    return off


def _bisect_change(tz: ZoneInfo, lo: datetime, hi: datetime, offset: timedelta) -> datetime:
    """The first instant in ``(lo, hi]`` whose offset differs from ``offset``, to the second."""
    while hi - lo > timedelta(seconds=1):
        mid = (lo + (hi - lo) / 2).replace(microsecond=0)
        if mid <= lo:
            break
        if _offset(tz, mid) == offset:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Span:
    """Open from ``start_at`` (inclusive) to ``end_at`` (exclusive); either may be absent."""

    start_at: datetime | None = None
    end_at: datetime | None = None

    def is_open(self, at: datetime) -> bool:
        return (self.start_at is None or at >= self.start_at) and (
            self.end_at is None or at < self.end_at
        )

    def next_open(self, after: datetime) -> datetime | None:
        if self.end_at is not None and after >= self.end_at:
            return None
        if self.start_at is not None and after < self.start_at:
            return self.start_at
        return after

    def next_close(self, after: datetime) -> datetime | None:
        if not self.is_open(after):
            return after
        return self.end_at


@dataclass(frozen=True)
class Intersection(_RemembersSpans):
    """Open exactly when every part is open."""

    parts: tuple[Window, ...]

    def _open_at(self, at: datetime) -> bool:
        return all(p.is_open(at) for p in self.parts)

    def _opens_after(self, after: datetime) -> datetime | None:
        return _first_common_opening(self.parts, after)

    def _closes_after(self, after: datetime) -> datetime | None:
        closes = [c for c in (p.next_close(after) for p in self.parts) if c is not None]
        return min(closes) if closes else None


#: How far one round of the common-opening search looks.
_CHUNK = timedelta(days=28)
#: How far the common-opening search looks in all: a year and a week covers every season
#: of daylight-saving time, so parts that share no open moment by then never will.
COMMON_SEARCH_HORIZON = timedelta(days=372)


def _first_common_opening(parts: tuple[Window, ...], after: datetime) -> datetime | None:
    """The first instant at or after ``after`` where every part is open, by intersecting
    the parts' open intervals four weeks at a time.

    Zones whose hours never overlap (a number that may ring in Moscow or Kamchatka) are
    searched to ``COMMON_SEARCH_HORIZON`` in a dozen rounds, not one step per opening.
    """
    start = after
    limit = after + COMMON_SEARCH_HORIZON
    while start < limit:
        end = start + _CHUNK
        common: list[tuple[datetime, datetime]] | None = None
        for part in parts:
            spans = _open_spans(part, start, end)
            common = spans if common is None else _overlap(common, spans)
            if not common:
                break
        if common:
            return common[0][0]
        if any(p.next_open(start) is None for p in parts):
            return None
        start = end
    return None


def _open_spans(part: Window, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    if isinstance(part, Span):
        lo = max(part.start_at or start, start)
        hi = min(part.end_at or end, end)
        return [(lo, hi)] if lo < hi else []
    assert isinstance(part, WeeklyWindow)
    spans: list[tuple[datetime, datetime]] = []
    for lo, hi in part._intervals_from(start):
        if lo >= end:
            break
        if hi > start:
            spans.append((max(lo, start), min(hi, end)))
    return spans


def _overlap(
    a: list[tuple[datetime, datetime]], b: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The intersection of two sorted lists of disjoint half-open intervals."""
    out: list[tuple[datetime, datetime]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def intersect(*windows: Window) -> Window:
    """The window open when all of ``windows`` are; flattens nested intersections."""
    parts: list[Window] = []
    for w in windows:
        parts.extend(w.parts if isinstance(w, Intersection) else (w,))
    return parts[0] if len(parts) == 1 else Intersection(tuple(parts))


#: The legal French calling hours, which Volubile applies to every campaign's slots.
FRENCH_CALLING_SLOTS = (Slot(time(10), time(13)), Slot(time(14), time(20)))
