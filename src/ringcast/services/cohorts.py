"""Adding contacts in batches (Sarvam's cohorts): a JSON stream, or an uploaded CSV.

An upload is checked in two steps. Blocking checks refuse the whole file before anything
is stored: the mapping names columns the file has, the file has a data row, overrides and
variables are ones the agent knows. Then each row is checked on its own: a bad row is
written, with its ``rejected_reason``, to the cohort's rejected-records file and the rest
go on.

Theory of operation: an upload is a durable job. The file is stored in the database with
the cohort (``cohort_files``), so any server or worker can read it. Whoever holds the
cohort's lease reads it in batches of rows; each batch commits its contacts, its part of
the rejected-records file and the cohort's counts together, and renews the lease
(``CampaignQueries.cohort_batch``). ``total_records`` is thus also the row the job
resumes from: a process that dies leaves the cohort ``processing`` with a lapsing lease,
and the next to claim it (``resume_next``, run by every server and worker) skips the rows
already counted and goes on. The contacts a cohort adds wait, not yet due, with the
reason ``COHORT_PENDING`` until it completes; a cohort that fails removes them. Each
number is a contact of a campaign once (the database's unique index), so a number seen in
an earlier batch, another cohort or a concurrent stream is a rejected row, not a second
contact.

What a large upload costs (a million rows): checking the numbers, which a pool of
processes does (``cohort_rows``); writing each batch, which a thread does while the next
is read and checked (``_write_all``); and, on completion, making the held contacts due,
one statement that rewrites each of them. The contacts' ids are time-ordered
(``cohort_rows.contact_id``), so both writes land at the right edge of the indexes keyed
on ``id`` and their cost per row does not grow with the table.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, BinaryIO, Literal, Protocol

from ringcast import csvout
from ringcast.clock import Clock
from ringcast.core.errors import InvalidTransition, LeaseLost, NotFound, ValidationFailed
from ringcast.ports import CampaignQueries, Store
from ringcast.records import Campaign, Cohort
from ringcast.services import cohort_rows
from ringcast.services.cohort_rows import OVERRIDES_KEY as OVERRIDES_KEY
from ringcast.services.cohort_rows import USER_IDENTIFIER_MAX as USER_IDENTIFIER_MAX
from ringcast.services.cohort_rows import Row as Row
from ringcast.services.cohort_rows import normalise_phone as normalise_phone

#: rows per batch, one transaction each (``cohort_batch_rows``): a million-row upload is
#: a hundred of them, each a bulk load (``COPY`` on PostgreSQL)
BATCH = 10_000
#: the stored upload's parts: small enough to hold one, large enough to be few
FILE_PART = 1 << 20
#: how long a job's lease lasts without a batch committed (``cohort_lease_s``)
LEASE = timedelta(seconds=30)
OVERRIDES = frozenset({"initial_bot_message", "initial_state_name", "initial_language_name"})
FileType = Literal["cohort", "rejected_records", "cohort_transformation"]
FILE_NAMES: dict[FileType, str] = {
    "cohort": "cohort.csv",
    "rejected_records": "rejected_records.csv",
    "cohort_transformation": "cohort_transformation.json",
}


class CohortStore(Store, CampaignQueries, Protocol):
    """A store that also keeps cohorts."""


@dataclass(frozen=True)
class Job:
    """How this process runs cohort jobs: its name on the leases it takes, their length,
    and the rows per batch."""

    owner: str
    lease: timedelta = LEASE
    batch_rows: int = BATCH

    @classmethod
    def here(cls, lease: timedelta = LEASE, batch_rows: int = BATCH) -> Job:
        """A job runner named after this host and process (unique per call)."""
        name = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        return cls(name, lease, batch_rows)


def new_cohort(
    campaign: Campaign,
    name: str,
    source: str,
    transformation: Mapping[str, Any],
    actor: str,
    clock: Clock,
) -> Cohort:
    if not 1 <= len(name) <= 50:
        raise ValidationFailed.single("name", name, "must be 1 to 50 characters")
    now = clock.now()
    return Cohort(
        id=str(uuid.uuid4()),
        campaign_id=campaign.id,
        name=name,
        status="processing",
        source_type=source,
        created_at=now,
        updated_at=now,
        transformation=dict(transformation),
        created_by=actor,
        updated_by=actor,
    )


def check_open(campaign: Campaign) -> None:
    if campaign.config.status.is_terminal:
        raise InvalidTransition(campaign.config.status.value, "add contacts to")


# --- the JSON stream ---------------------------------------------------------------


def stream(
    store: CohortStore,
    clock: Clock,
    campaign: Campaign,
    name: str,
    users: Iterable[Row],
    actor: str,
    job: Job | None = None,
) -> Cohort:
    """Add up to 1000 users; an invalid number or a repeated one rejects that user only
    (repeated in the request, or already a contact of the campaign, however many streams
    of the same numbers run at once). A stream is a job like an upload, run at once by
    the request; if its process dies first, the job runner fails it and its users are
    not added (there is no file to resume from: the client sends them again)."""
    check_open(campaign)
    job = job or Job.here()
    cohort = new_cohort(campaign, name, "stream", {}, actor, clock)
    store.add_cohort(cohort, lease_owner=job.owner, lease_until=clock.now() + job.lease)
    base = id_base(cohort)
    checked = (
        (row, cohort_rows.check(row, cohort_rows.contact_id(base, n)))
        for n, row in enumerate(users)
    )
    return _run(store, clock, job, cohort, checked, Row.as_record, None)


# --- the CSV upload ----------------------------------------------------------------


def parse_transformation(raw: bytes, agent_variables: Iterable[str]) -> dict[str, Any]:
    """The column mapping, checked against the agent; a ValidationFailed blocks the upload."""
    field = "cohort_transformation_file"
    try:
        mapping = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed.single(field, None, f"is not valid JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise ValidationFailed.single(field, None, "must be a JSON object")
    phone = mapping.get("phone_number")
    if not isinstance(phone, dict) or not isinstance(phone.get("column_name"), str):
        raise ValidationFailed.single(
            f"{field}.phone_number", phone, 'must be {"column_name": ...}'
        )
    for section in ("app_variables", "app_overrides"):
        part = mapping.get(section, {})
        if not isinstance(part, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("column_name"), str) for v in part.values()
        ):
            raise ValidationFailed.single(
                f"{field}.{section}", part, 'must map names to {"column_name": ...}'
            )
    unknown_overrides = set(mapping.get("app_overrides", {})) - OVERRIDES
    if unknown_overrides:
        raise ValidationFailed.single(
            f"{field}.app_overrides",
            sorted(unknown_overrides),
            "may only set " + ", ".join(sorted(OVERRIDES)),
        )
    undeclared = set(mapping.get("app_variables", {})) - set(agent_variables)
    if undeclared:
        raise ValidationFailed.single(
            f"{field}.app_variables", sorted(undeclared), "are not variables of the agent's prompt"
        )
    ident = mapping.get("user_identifier")
    if ident is not None and not (
        isinstance(ident, dict) and isinstance(ident.get("column_name"), str)
    ):
        raise ValidationFailed.single(
            f"{field}.user_identifier", ident, 'must be {"column_name": ...}'
        )
    return mapping


def referenced_columns(mapping: Mapping[str, Any]) -> list[str]:
    cols = [mapping["phone_number"]["column_name"]]
    if mapping.get("user_identifier"):
        cols.append(mapping["user_identifier"]["column_name"])
    for section in ("app_variables", "app_overrides"):
        cols += [v["column_name"] for v in mapping.get(section, {}).values()]
    return cols


def check_file(rows: BinaryIO, mapping: Mapping[str, Any]) -> None:
    """Blocking checks on the file itself: a header with every mapped column, and a data row."""
    field = "cohort_file"
    try:
        text = io.TextIOWrapper(rows, encoding="utf-8-sig", newline="")
        try:
            reader = csv.reader(text)
            header = next(reader, None)
            first = next(reader, None)
        finally:
            text.detach()  # the caller's file stays open
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationFailed.single(
            field, None, f"is not a readable UTF-8 CSV file: {exc}"
        ) from None
    if not header:
        raise ValidationFailed.single(field, None, "has no header row")
    missing = [c for c in referenced_columns(mapping) if c not in header]
    if missing:
        raise ValidationFailed.single(field, missing, "lacks columns the mapping names")
    if first is None:
        raise ValidationFailed.single(field, None, "has no data row")


def upload(
    store: CohortStore,
    clock: Clock,
    campaign: Campaign,
    name: str,
    rows: BinaryIO,
    transformation: bytes,
    actor: str,
    job: Job,
) -> Cohort:
    """Accept a CSV upload: the mapping and the file pass the blocking checks, then the
    cohort is stored, ``processing``, with its file, under ``job``'s lease; ``run`` (or,
    if this process dies first, any other's ``resume_next``) then reads the rows. A
    refused upload leaves nothing behind. ``rows`` must be seekable (an upload spooled
    to disk): it is read once for the checks and once to be stored."""
    check_open(campaign)
    agent = store.get_agent(campaign.agent_id)
    mapping = parse_transformation(transformation, agent.variables if agent else ())
    cohort = new_cohort(campaign, name, "file_upload", mapping, actor, clock)
    check_file(rows, mapping)
    rows.seek(0)
    store.add_cohort(
        cohort,
        file=iter(lambda: rows.read(FILE_PART), b""),
        lease_owner=job.owner,
        lease_until=clock.now() + job.lease,
    )
    return cohort


def cohort_file(store: CohortStore, cohort: Cohort, file_type: FileType) -> Iterator[bytes]:
    """One of the cohort's files, in parts; ``NotFound`` if it has none of that kind (a
    streamed cohort has no files; rejected rows exist once the first batch is read)."""
    if file_type == "cohort_transformation":
        if cohort.source_type != "file_upload":
            raise NotFound("file", file_type)
        return iter([json.dumps(cohort.transformation).encode()])
    parts = store.cohort_file(cohort.id, file_type)
    if parts is None:
        raise NotFound("file", file_type)
    return parts


def resume_next(store: CohortStore, clock: Clock, job: Job) -> Cohort | None:
    """Claim one cohort job nobody holds (its process died, or it was never started) and
    run it to its end; None when there is none."""
    cohort = store.claim_cohort(job.owner, clock.now(), clock.now() + job.lease)
    if cohort is None:
        return None
    return resume(store, clock, job, cohort)


def resume(store: CohortStore, clock: Clock, job: Job, cohort: Cohort) -> Cohort:
    """Carry on a cohort job whose lease ``job`` holds, from where it stands (the upload's
    own background task starts it so)."""
    if cohort.source_type != "file_upload":
        return _fail(
            store, clock, job, cohort, "interrupted before it completed: send the users again"
        )
    parts = store.cohort_file(cohort.id, "cohort")
    if parts is None:
        return _fail(store, clock, job, cohort, "the uploaded file is missing")
    return run(store, clock, job, cohort, parts)


def run(
    store: CohortStore, clock: Clock, job: Job, cohort: Cohort, parts: Iterator[bytes]
) -> Cohort:
    """Read the stored CSV from the row the cohort stands at, add the good rows, store the
    bad ones with a reason, and complete the cohort; a file that cannot be read fails it.
    Returns the cohort as this process left it (still ``processing`` if its lease passed
    to another process, which carries on)."""
    text = io.TextIOWrapper(
        io.BufferedReader(_PartsReader(parts), FILE_PART), encoding="utf-8-sig", newline=""
    )
    try:
        with text:
            reader = csv.reader(text)
            fieldnames = next(reader, None) or []
            # as csv.DictReader reads them: a blank line is no record
            records = (r for r in reader if r)
            rest = itertools.islice(records, cohort.total_records, None)  # those counted
            checked = cohort_rows.checked_records(
                rest,
                fieldnames,
                cohort.transformation,
                first_row=cohort.total_records,
                id_base=id_base(cohort),
            )
            rejected_fields = [*fieldnames, "rejected_reason"]

            def record(values: Any) -> Mapping[Any, Any]:
                return cohort_rows.as_record(fieldnames, values)

            return _run(store, clock, job, cohort, checked, record, rejected_fields)
    except (UnicodeDecodeError, csv.Error, ValueError) as exc:  # the file's fault, for good
        return _fail(store, clock, job, cohort, f"cohort_file is not readable: {exc}")


def id_base(cohort: Cohort) -> int:
    """What the ids of a cohort's contacts start with (``cohort_rows.contact_id``): when
    it was created, in Unix milliseconds, the same for a job resumed elsewhere."""
    return int(cohort.created_at.timestamp() * 1000)


class _PartsReader(io.RawIOBase):
    """The stored parts of a file as one readable stream."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            part = next(self._parts, None)
            if part is None:
                return 0
            self._left = memoryview(part)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]  # a view: the part is not copied again
        return n


#: a row as the job carries it: its source (a CSV record, or a Row) and its check
_Entry = tuple[Any, cohort_rows.Checked]


def _run(
    store: CohortStore,
    clock: Clock,
    job: Job,
    cohort: Cohort,
    rows: Iterator[_Entry],
    record: Callable[[Any], Mapping[Any, Any]],
    rejected_fields: list[str] | None,
) -> Cohort:
    """Read ``rows`` from the cohort's offset in batches, one transaction each, then
    complete it; ``record`` turns a row's source into the rejected-records file's line,
    whose columns are ``rejected_fields`` (None: the cohort keeps no files).

    A number repeated in the file is found by the database (the contact added first
    holds it), not by a set of the numbers seen: memory stays the same whatever the
    file's length, and a resumed job finds the numbers of the runs before it alike."""
    campaign = store.get_campaign(cohort.campaign_id)
    if campaign is None:
        return _fail(store, clock, job, cohort, "the campaign is gone")
    commit = functools.partial(_commit, store, clock, job, cohort)
    try:
        _write_all(rows, job.batch_rows, cohort.total_records, commit, record, rejected_fields)
        if not store.complete_cohort(cohort, job.owner, clock.now(), clock.now() + job.lease):
            raise LeaseLost(cohort.id)
    except LeaseLost:
        pass  # another process holds the job now and carries it on
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # a pool checking rows ahead stops
    found = store.get_cohort(cohort.id)
    return found or cohort


def _write_all(
    rows: Iterator[_Entry],
    batch_rows: int,
    offset: int,
    commit: Callable[[int, list[_Entry], Any, list[str] | None], None],
    record: Callable[[Any], Mapping[Any, Any]],
    rejected_fields: list[str] | None,
) -> None:
    """Commit the rows in batches, in order, each on a thread of its own while this one
    reads and checks the next: the database writes one batch as the next is read, so a
    large upload costs about the longer of the two, not their sum. Only one batch is
    ever being written, and whatever stops the reading (an unreadable row) waits for it
    to end first, so the job's state is never changed under a batch in flight."""
    with ThreadPoolExecutor(1, thread_name_prefix="ringcast-cohort-batch") as writer:
        writing: Future[None] | None = None
        try:
            while batch := list(itertools.islice(rows, batch_rows)):
                if writing is not None:
                    writing.result()  # a batch that failed stops the job before the next
                writing = writer.submit(commit, offset, batch, record, rejected_fields)
                offset += len(batch)
        finally:
            if writing is not None:
                wait([writing])
        if writing is not None:
            writing.result()


def _commit(
    store: CohortStore,
    clock: Clock,
    job: Job,
    cohort: Cohort,
    offset: int,
    batch: list[_Entry],
    record: Callable[[Any], Mapping[Any, Any]],
    rejected_fields: list[str] | None,
) -> None:
    """One batch, in one transaction: its contacts (each number the campaign lacks),
    its rejected rows, the cohort's counts, and the lease renewed."""
    now = clock.now()
    reasons = [c if isinstance(c, str) else None for _, c in batch]
    good = [(i, c) for i, (_, c) in enumerate(batch) if not isinstance(c, str)]
    with store.cohort_batch(cohort, job.owner, offset, now + job.lease) as tx:
        added = tx.add_held([c for _, c in good], now)
        lost = [(i, c[1]) for i, c in good if c[0] not in added]
        owners = tx.phone_owners([phone for _, phone in lost])
        for i, phone in lost:
            reasons[i] = (
                "phone number repeated in this cohort"
                if owners.get(phone) == cohort.id
                else "the campaign already has this phone number"
            )
        refused = [(record(batch[i][0]), r) for i, r in enumerate(reasons) if r is not None]
        if rejected_fields is not None and (refused or offset == 0):
            tx.add_rejected(offset, _rejected_part(rejected_fields, refused, header=offset == 0))
        tx.advance(len(batch), len(added), len(refused), now)


def _rejected_part(
    fieldnames: list[str], refused: list[tuple[Mapping[Any, Any], str]], header: bool
) -> bytes:
    """The rejected-records file's lines for these rows (with its header, first)."""
    bad = io.StringIO(newline="")
    # a row longer than the header has its extra cells under None: not part of the file's
    # columns, so left out
    writer = csvout.DictWriter(bad, fieldnames, extrasaction="ignore")
    if header:
        writer.writeheader()
    for values, reason in refused:
        writer.writerow({**values, "rejected_reason": reason})
    return bad.getvalue().encode("utf-8")


def _fail(store: CohortStore, clock: Clock, job: Job, cohort: Cohort, reason: str) -> Cohort:
    failed = replace(cohort, status="failed", failure_reason=reason[:500])
    store.fail_cohort(failed, job.owner, clock.now())
    return store.get_cohort(cohort.id) or failed


def get(store: CohortStore, campaign: Campaign, cohort_id: str) -> Cohort:
    cohort = store.get_cohort(cohort_id)
    if cohort is None or cohort.campaign_id != campaign.id:
        raise NotFound("cohort", cohort_id)
    return cohort
