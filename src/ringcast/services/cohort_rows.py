"""A cohort's rows checked: each number to E.164 by ``phonenumbers``, and the values its
contact stores; for a large upload, over a pool of processes.

Checking is what an upload spends its time on (``phonenumbers`` costs tens of
microseconds a number, on one core), and each row is checked on its own, so a large file
is cut into chunks of raw CSV records that a pool of processes (one per core) checks
while this process reads the file and writes the batches already checked. The results
come back in the file's order, and only a few chunks are ever in flight, so the memory
an upload takes does not grow with the file.

What a check yields is small on purpose (a tuple, or the reason as a string): it crosses
a process boundary, and a million of them go by in an upload. This module imports only
``phonenumbers`` and the standard library: each worker process imports it on start.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

if TYPE_CHECKING:  # a worker process imports this module: it stays light
    from ringcast.ports import HeldContact

#: the longest ``user_identifier`` a contact stores (``contacts.user_identifier``)
USER_IDENTIFIER_MAX = 200
#: the key under which a contact's app_overrides ride in its context
OVERRIDES_KEY = "_app_overrides"
#: rows a worker process checks at a time: large enough that sending them is cheap
#: beside checking them, small enough that a few in flight take little memory
CHUNK = 5000
#: rows checked in this process before a pool is started for the rest: starting one
#: (a new interpreter per core, importing this module) costs about as much as checking
#: these, so a small file is done sooner without
INLINE = 20_000
#: a row checked: the contact to add (``HeldContact``), or why the row is refused
Checked: TypeAlias = "HeldContact | str"


@dataclass(frozen=True)
class Row:
    phone: str
    user_identifier: str | None
    variables: Mapping[str, Any]
    overrides: Mapping[str, Any]
    #: the raw CSV record, written back to the rejected-records file if the row is refused
    record: Mapping[Any, Any] | None = None
    #: set when the row already failed its own checks (a required column left empty)
    rejected_because: str | None = None

    def as_record(self) -> Mapping[Any, Any]:
        if self.record is not None:
            return self.record
        return {"phone": self.phone, "user_identifier": self.user_identifier, **self.variables}


#: an Indian number written as E.164 or as 10 bare digits, the shape nearly every row
#: of an upload has: ``phonenumbers.parse`` would read it as country code 91 and these 10
#: digits (no national prefix, no leading zero to keep), so it is built directly, which
#: costs a fifth of parsing it; ``is_valid_number`` still decides whether it is valid
_INDIAN = re.compile(r"(?:\+91)?([1-9][0-9]{9})")


def normalise_phone(raw: str) -> str | None:
    """E.164, with a bare 10-digit number read as Indian (as Sarvam does); None if invalid."""
    text = raw.strip()
    plain = _INDIAN.fullmatch(text)
    if plain is not None:
        number = phonenumbers.PhoneNumber(country_code=91, national_number=int(plain[1]))
        return "+91" + plain[1] if phonenumbers.is_valid_number(number) else None
    return parsed_phone(text)


def parsed_phone(text: str) -> str | None:
    """``normalise_phone`` by ``phonenumbers.parse`` alone: the way every number not in
    the Indian short cut's shape is read, and the reference the short cut must match."""
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_id(base_ms: int, row: int) -> str:
    """A new contact's id for the ``row``-th row of a cohort created at ``base_ms`` (Unix
    milliseconds): a UUID laid out as version 7 (time first, then the row, then 42 random
    bits), so that a cohort's contacts go into the primary key and the indexes keyed on
    ``id`` in order, at their right edge, instead of at a random page each. Random ids
    made a million-row upload slow down as those indexes outgrew the database's cache:
    every row then read and dirtied a page of its own, on insert and again on release."""
    value = (
        (base_ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((row >> 20) & 0xFFF) << 64
        | 0b10 << 62
        | (row & 0xFFFFF) << 42
        | int.from_bytes(os.urandom(6)) >> 6
    )
    return str(uuid.UUID(int=value))


def check(row: Row, new_id: str | None = None) -> Checked:
    """The contact this row adds (with ``new_id``, else a random one), or why it is
    refused."""
    refused = row.rejected_because or unstorable(row)
    if refused:
        return refused
    phone = normalise_phone(row.phone)
    if phone is None:
        return f"invalid phone number {row.phone!r}"
    context = dict(row.variables)
    if row.overrides:
        context[OVERRIDES_KEY] = dict(row.overrides)
    return (
        new_id or str(uuid.uuid4()),
        phone,
        row.user_identifier,
        json.dumps(context),
        explicit_zone(context),
    )


def explicit_zone(context: Mapping[str, Any]) -> str | None:
    """A ``timezone`` the contact carries, when it names an IANA zone (else the number's)."""
    value = context.get("timezone")
    if not isinstance(value, str) or not value:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def unstorable(row: Row) -> str | None:
    """Why the database would refuse this row's values, if it would: a row that fails
    its batch every time would stop the job for good, so it is rejected on its own."""
    if row.user_identifier is not None and len(row.user_identifier) > USER_IDENTIFIER_MAX:
        return f"user_identifier longer than {USER_IDENTIFIER_MAX} characters"
    texts = [row.phone, row.user_identifier, *row.variables.values(), *row.overrides.values()]
    if any(isinstance(v, str) and "\x00" in v for v in texts):
        return "a value contains a NUL character"
    return None


# --- CSV records ---------------------------------------------------------------------


def as_record(fieldnames: Sequence[str], values: Sequence[str]) -> dict[str | None, Any]:
    """A raw CSV record as ``csv.DictReader`` reads it: extra cells under None, missing
    ones None."""
    record: dict[str | None, Any] = dict(zip(fieldnames, values, strict=False))
    if len(values) > len(fieldnames):
        record[None] = list(values[len(fieldnames) :])
    else:
        for key in fieldnames[len(values) :]:
            record[key] = None
    return record


def row_of(record: Mapping[str | None, Any], mapping: Mapping[str, Any]) -> Row:
    """The row a record makes under the upload's column mapping."""
    ident = mapping.get("user_identifier") or {}
    variables = mapping.get("app_variables", {})
    overrides = mapping.get("app_overrides", {})
    missing = [
        spec["column_name"]
        for spec in [ident, *variables.values()]
        if spec and spec.get("required") and not (record.get(spec["column_name"]) or "").strip()
    ]
    return Row(
        phone=record.get(mapping["phone_number"]["column_name"]) or "",
        user_identifier=(record.get(ident["column_name"]) or None) if ident else None,
        variables={k: record.get(v["column_name"]) for k, v in variables.items()},
        overrides={k: record.get(v["column_name"]) for k, v in overrides.items()},
        record=record,
        rejected_because=f"required column(s) empty: {', '.join(missing)}" if missing else None,
    )


def check_records(
    fieldnames: Sequence[str],
    mapping: Mapping[str, Any],
    records: Sequence[Sequence[str]],
    first_row: int = 0,
    id_base: int | None = None,
) -> list[Checked]:
    """Each raw record checked (what a worker process runs on a chunk); with ``id_base``,
    the contacts' ids are ``contact_id(id_base, row)``, rows counted from ``first_row``."""
    return [
        check(
            row_of(as_record(fieldnames, r), mapping),
            None if id_base is None else contact_id(id_base, first_row + n),
        )
        for n, r in enumerate(records)
    ]


def checked_records(
    records: Iterator[list[str]],
    fieldnames: Sequence[str],
    mapping: Mapping[str, Any],
    workers: int | None = None,
    chunk_rows: int = CHUNK,
    inline_rows: int = INLINE,
    first_row: int = 0,
    id_base: int | None = None,
) -> Iterator[tuple[list[str], Checked]]:
    """Each record with its check, in order. The first ``inline_rows`` are checked here;
    the rest, if any, by a pool of ``workers`` processes (one per core by default), at
    most two chunks per process in flight. A record that cannot be read (the file's
    fault) raises once every record before it has been yielded. The records are rows
    ``first_row`` on of a cohort whose contacts' ids are made from ``id_base``
    (``contact_id``; None: random ids)."""
    chunks = _chunks(records, chunk_rows)
    processes = workers or os.cpu_count() or 1
    row = first_row
    while row - first_row < inline_rows or processes < 2:
        each = next(chunks, [])
        if not each:
            return
        yield from zip(each, check_records(fieldnames, mapping, each, row, id_base), strict=True)
        row += len(each)
    first = next(chunks, [])
    if len(first) < chunk_rows:  # the file's last chunk: no pool for so little
        yield from zip(first, check_records(fieldnames, mapping, first, row, id_base), strict=True)
        return
    # spawn, not fork: this process has threads (the server's, the database pool's)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),)
    ) as pool:
        pending: deque[tuple[list[list[str]], Future[list[Checked]]]] = deque()
        unreadable: Exception | None = None
        try:
            chunk: list[list[str]] = first
            while chunk:
                work = (list(fieldnames), dict(mapping), chunk, row, id_base)
                pending.append((chunk, pool.submit(check_records, *work)))
                row += len(chunk)
                if len(pending) >= 2 * processes:
                    done, future = pending.popleft()
                    yield from zip(done, future.result(), strict=True)
                try:
                    chunk = next(chunks, [])
                except Exception as exc:  # the rows read before it still count
                    unreadable, chunk = exc, []
            while pending:
                done, future = pending.popleft()
                yield from zip(done, future.result(), strict=True)
        finally:
            for _, future in pending:  # stopped early: no more checks
                future.cancel()
        if unreadable is not None:
            raise unreadable


def _exit_with(parent: int) -> None:
    """In a worker process: end it once the process that started it is gone. A pool's
    workers otherwise outlive a server killed with SIGKILL, waiting for work for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="ringcast-parent-watch", daemon=True).start()


def _chunks(records: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    """The records, ``size`` at a time; a record that cannot be read ends its chunk
    early (the records before it come first), then raises."""
    while True:
        chunk: list[list[str]] = []
        try:
            chunk.extend(itertools.islice(records, size))
        except Exception:
            if chunk:
                yield chunk
            raise
        if not chunk:
            return
        yield chunk
