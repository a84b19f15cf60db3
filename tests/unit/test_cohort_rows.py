"""A cohort's rows checked here or by a pool of processes: the same checks, in the file's
order, and a record that cannot be read stops the rows after it only."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringcast.services import cohort_rows

FIELDS = ["mobile", "id", "name"]
MAPPING: dict[str, Any] = {
    "phone_number": {"column_name": "mobile"},
    "user_identifier": {"column_name": "id", "required": True},
    "app_variables": {"name": {"column_name": "name"}},
}


def records(n: int) -> list[list[str]]:
    """Every 7th number invalid, every 11th row without its required id, every 13th a
    short row and every 17th a long one."""
    out = []
    for i in range(n):
        row = ["bad" if i % 7 == 3 else f"98{i:08d}", "" if i % 11 == 5 else f"c{i}", f"P{i}"]
        if i % 13 == 6:
            row = row[:2]
        if i % 17 == 8:
            row = [*row, "extra"]
        out.append(row)
    return out


def without_ids(checked: list[cohort_rows.Checked]) -> list[Any]:
    """The checks with each new contact's random id left out."""
    return [c if isinstance(c, str) else c[1:] for c in checked]


def test_a_pool_checks_rows_as_this_process_does_in_order() -> None:
    """Checked partly here and then by two worker processes, a file of many chunks gives
    each record the same check as one process gives it, in the file's order."""
    rows = records(1234)
    pooled = list(
        cohort_rows.checked_records(iter(rows), FIELDS, MAPPING, 2, chunk_rows=100, inline_rows=300)
    )
    assert [r for r, _ in pooled] == rows
    here = cohort_rows.check_records(FIELDS, MAPPING, rows)
    assert without_ids([c for _, c in pooled]) == without_ids(here)
    assert len({c[0] for _, c in pooled if not isinstance(c, str)}) == sum(
        not isinstance(c, str) for c in here
    )


def _until_error(items: Iterator[Any]) -> Iterator[Any]:
    """The items, then (None, None) if reading them raised UnicodeDecodeError."""
    try:
        yield from items
    except UnicodeDecodeError:
        yield (None, None)


def unreadable_after(rows: list[list[str]], good: int) -> Iterator[list[str]]:
    yield from rows[:good]
    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


@pytest.mark.parametrize("workers", [1, 2])
def test_rows_before_an_unreadable_record_are_yielded_then_it_raises(workers: int) -> None:
    """A record that cannot be read (bad bytes in the file) raises only after every
    record before it came out checked, here and with a pool."""
    rows = records(1234)
    checked = cohort_rows.checked_records(
        unreadable_after(rows, len(rows) - 5), FIELDS, MAPPING, workers, 100, inline_rows=300
    )
    seen = [record for record, _ in _until_error(checked)]
    assert seen == [*rows[: len(rows) - 5], None]  # every row before it, then the error


@settings(max_examples=50)
@given(st.lists(st.lists(st.text(max_size=5), max_size=5), max_size=20))
def test_a_record_reads_as_csv_dictreader_reads_it(rows: list[list[str]]) -> None:
    """A raw record becomes the dict ``csv.DictReader`` makes of the same line: extra
    cells under None, missing ones None."""
    rows = [r for r in rows if r]  # DictReader skips blank lines; so does the job
    buf = io.StringIO()
    csv.writer(buf).writerows([FIELDS, *rows])
    expected = list(csv.DictReader(io.StringIO(buf.getvalue())))
    parsed = list(csv.reader(io.StringIO(buf.getvalue())))[1:]
    assert [cohort_rows.as_record(FIELDS, r) for r in parsed if r] == expected


def test_a_good_row_carries_its_contact() -> None:
    """A good row yields a new id, the number in E.164, its identifier, its variables and
    overrides as JSON and the IANA zone it names; a bad one, the reason."""
    row = cohort_rows.Row(
        "98765 43210", "c1", {"name": "A", "timezone": "Asia/Kolkata"}, {"x": "y"}
    )
    checked = cohort_rows.check(row)
    assert not isinstance(checked, str)
    _, phone, ident, context, zone = checked
    assert (phone, ident, zone) == ("+919876543210", "c1", "Asia/Kolkata")
    assert json.loads(context) == {
        "name": "A",
        "timezone": "Asia/Kolkata",
        cohort_rows.OVERRIDES_KEY: {"x": "y"},
    }
    assert cohort_rows.check(cohort_rows.Row("12", None, {}, {})) == "invalid phone number '12'"


CHILD = """
import sys, time
from pathlib import Path
from ringcast.services import cohort_rows

def records():
    for i in range(250):
        yield [f"98{i:08d}", f"c{i}", "n"]
    time.sleep(1)  # the pool has started: name its processes, then hang
    tasks = Path("/proc/self/task").glob("*")
    kids = [c for t in tasks for c in (t / "children").read_text().split()]
    print(" ".join(kids), flush=True)
    time.sleep(600)

fields = ["mobile", "id", "name"]
mapping = {"phone_number": {"column_name": "mobile"}}
for _ in cohort_rows.checked_records(records(), fields, mapping, 2, 100, inline_rows=0):
    pass
"""


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_the_checking_processes_end_when_their_parent_is_killed() -> None:
    """SIGKILL of the process that started the pool (a server killed mid-upload) ends
    its checking processes too, instead of leaving them waiting for ever."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        try:
            kids = [int(p) for p in parent.stdout.readline().split()]
            assert len(kids) >= 2, kids  # the two workers (and multiprocessing's tracker)
        finally:
            parent.kill()
            parent.wait()
    deadline = time.monotonic() + 10
    while (alive := [k for k in kids if Path(f"/proc/{k}").exists()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert not alive


@settings(max_examples=300)
@given(
    st.text("0123456789", min_size=9, max_size=11),
    st.sampled_from(["", "+91", "+9", "+910", " +91", "0"]),
    st.sampled_from(["", " "]),
)
def test_an_indian_number_read_directly_is_what_parsing_makes_of_it(
    digits: str, prefix: str, space: str
) -> None:
    """An Indian number in canonical shape, built without ``phonenumbers.parse``, is
    valid or not and written in E.164 exactly as parsing it would make it, and so is
    every nearby shape that does not take the short cut."""
    raw = f"{space}{prefix}{digits}{space}"
    assert cohort_rows.normalise_phone(raw) == cohort_rows.parsed_phone(raw.strip())


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9876543210", "+919876543210"),
        ("+919876543210", "+919876543210"),
        ("09876543210", "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("5012345678", None),
        ("+915012345678", None),
        ("+14155552671", "+14155552671"),
    ],
)
def test_numbers_normalise_to_e164(raw: str, expected: str | None) -> None:
    """Bare Indian digits, E.164, a national prefix, spaces and another country all
    come out in E.164; an Indian number no range holds is refused."""
    assert cohort_rows.normalise_phone(raw) == expected


def test_contact_ids_follow_the_cohort_and_the_row() -> None:
    """A cohort's contact ids are UUIDs (version 7 layout) that sort as their rows do,
    and after those of a cohort created earlier, whatever their random part."""
    ids = [cohort_rows.contact_id(1_700_000_000_000, row) for row in range(0, 3_000_000, 997)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids} == {7}
    later = cohort_rows.contact_id(1_700_000_000_001, 0)
    assert later > ids[-1]
