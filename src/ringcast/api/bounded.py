"""Pydantic types for values bounded to what ringcast can hold (``core.bounds``).

Both dialects and the native surface use them for every date, instant and integer they
take, so a year-9999 date or a 64-bit integer is a 4xx naming the field, never a 500.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

from ringcast.core import bounds


def _date(day: date) -> date:
    if not bounds.date_in_range(day):
        raise PydanticCustomError("date_range", bounds.date_range_message())
    return day


def _instant(at: datetime) -> datetime:
    if not bounds.instant_in_range(at):
        raise PydanticCustomError("datetime_range", bounds.date_range_message())
    return at


#: A date between ``bounds.EARLIEST_DATE`` and ``bounds.LATEST_DATE``.
BoundedDate = Annotated[date, AfterValidator(_date)]
#: An aware instant in the same range.
BoundedInstant = Annotated[AwareDatetime, AfterValidator(_instant)]
#: An integer a 32-bit ``INTEGER`` column holds (negative values are refused by each
#: field's own ``ge``).
Int32 = Annotated[int, Field(le=bounds.INT32_MAX)]
