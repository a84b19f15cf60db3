"""A cohort job writes its batches on a thread of its own while it reads the next: in
order, one at a time, and nothing after a batch that failed or a row that cannot be read
until the batch in flight has ended."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ringcast.core.errors import LeaseLost
from ringcast.services import cohorts


def entries(n: int) -> Iterator[tuple[Any, Any]]:
    for i in range(n):
        yield (i, f"reason {i}")


def test_batches_are_committed_in_order_with_their_offsets() -> None:
    """Ten rows in batches of three from offset 100 are committed as four batches, in
    the file's order, each with the row it starts at."""
    seen: list[tuple[int, list[int]]] = []

    def commit(offset: int, batch: list[Any], record: Any, fields: Any) -> None:
        seen.append((offset, [i for i, _ in batch]))

    cohorts._write_all(entries(10), 3, 100, commit, dict, None)
    assert seen == [(100, [0, 1, 2]), (103, [3, 4, 5]), (106, [6, 7, 8]), (109, [9])]


def test_an_unreadable_row_waits_for_the_batch_in_flight() -> None:
    """The reader fails while the first batch is still being written: the error comes
    out only after that batch has ended, so whoever fails the job next changes nothing
    under it."""
    writing, may_end, ended = threading.Event(), threading.Event(), threading.Event()

    def commit(offset: int, batch: list[Any], record: Any, fields: Any) -> None:
        writing.set()
        assert may_end.wait(30)
        ended.set()

    def rows() -> Iterator[tuple[Any, Any]]:
        yield from entries(2)
        assert writing.wait(30)  # the first batch is in flight
        may_end.set()
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    with pytest.raises(UnicodeDecodeError):
        cohorts._write_all(rows(), 2, 0, commit, dict, None)
    assert ended.is_set()


def test_a_batch_that_failed_stops_the_job_before_the_next() -> None:
    """A batch refused (its lease lost) raises, and no later batch is committed."""
    seen: list[int] = []

    def commit(offset: int, batch: list[Any], record: Any, fields: Any) -> None:
        seen.append(offset)
        if offset == 2:
            raise LeaseLost("gone")

    with pytest.raises(LeaseLost):
        cohorts._write_all(entries(10), 2, 0, commit, dict, None)
    assert seen == [0, 2]
