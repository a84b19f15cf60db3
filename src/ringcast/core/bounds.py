"""The ranges every value ringcast takes must fall in, whatever surface it came through.

Each bound is what something downstream can hold, not a business rule:

* integers: a database ``INTEGER`` column (32 bits, signed);
* dates and instants: far enough from Python's year 1 and year 9999 that a day added,
  a zone applied or a retry delay waited still gives a date (``to=9999-12-31`` was a 500).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

#: The largest value a 32-bit signed ``INTEGER`` column holds.
INT32_MAX = 2**31 - 1

#: The first and last day a date parameter or field may name.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)


def date_in_range(day: date) -> bool:
    return EARLIEST_DATE <= day <= LATEST_DATE


def instant_in_range(at: datetime) -> bool:
    """An aware instant between the first and the last day (compared in UTC)."""
    return date_in_range(at.astimezone(UTC).date())


def date_range_message() -> str:
    return f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}"
