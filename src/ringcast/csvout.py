"""Every CSV file ringcast writes goes through here, with formula cells neutralised.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read
as a formula by spreadsheet programs (CSV injection: ``=HYPERLINK(...)`` in a contact's
name would run when an operator opens the rejected-records file). As OWASP recommends,
such a cell is written with a single quote in front, which makes it text; the ``csv``
module quotes it when it must. Headers are cells too. Phone numbers written ``+33...``
become ``'+33...``: the price of a file that is safe to open.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

#: what a cell may not begin with (OWASP, CSV injection)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """``cell`` as it is safe to write: a text cell that could start a formula, quoted."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def writer(f: IO[str], **kwargs: Any) -> Any:
    """A plain ``csv.writer`` for rows whose cells the caller has chosen to neutralise
    one by one: a results export (``services.export``) neutralises what customers wrote
    and keeps the E.164 numbers and times ringcast wrote itself readable as they are."""
    return csv.writer(f, **kwargs)


if TYPE_CHECKING:
    _DictWriter = csv.DictWriter[str]
else:  # not subscriptable at run time before Python 3.12
    _DictWriter = csv.DictWriter


class DictWriter(_DictWriter):
    """``csv.DictWriter`` whose every header and value is neutralised."""

    def __init__(self, f: IO[str], fieldnames: Iterable[str], **kwargs: Any) -> None:
        super().__init__(f, fieldnames=list(fieldnames), **kwargs)

    def writeheader(self) -> Any:
        return self.writer.writerow([neutralise(name) for name in self.fieldnames])

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)
