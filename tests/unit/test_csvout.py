"""CSV files ringcast writes neutralise formula cells (OWASP, CSV injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

import ringcast
from ringcast.csvout import DictWriter, neutralise


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+33612345678", "'+33612345678"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Alice", "Alice"),
        ("a=b", "a=b"),
        ("", ""),
        (42, 42),
        (None, None),
    ],
)
def test_a_formula_cell_is_written_as_text(cell: object, written: object) -> None:
    """A cell starting with = + - @ tab or carriage return gets a leading quote; others,
    and non-text cells, are untouched."""
    assert neutralise(cell) == written


def test_the_writer_neutralises_headers_and_values_and_reads_back() -> None:
    """Headers and values both go through; the file still parses as the same rows with
    the quote in front of each dangerous cell."""
    out = io.StringIO()
    w = DictWriter(out, ["phone", "=name", "rejected_reason"])
    w.writeheader()
    w.writerow({"phone": "+33612345678", "=name": "=1+1", "rejected_reason": "not valid"})
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [
        ["phone", "'=name", "rejected_reason"],
        ["'+33612345678", "'=1+1", "not valid"],
    ]


def test_every_csv_ringcast_writes_goes_through_csvout() -> None:
    """No module but ``csvout`` makes a CSV writer of its own."""
    root = Path(ringcast.__file__).parent
    raw = re.compile(r"csv\.(writer|DictWriter)\(")
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "csvout.py" and raw.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
