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
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, BinaryIO, Literal, Protocol

import phonenumbers

from ringcast import csvout
from ringcast.clock import Clock
from ringcast.core.errors import InvalidTransition, LeaseLost, NotFound, ValidationFailed
from ringcast.ports import CampaignQueries, Store
from ringcast.records import Campaign, Cohort
from ringcast.services import campaigns

BATCH = 1000
#: the longest ``user_identifier`` a contact stores (``contacts.user_identifier``)
USER_IDENTIFIER_MAX = 200
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
#: the key under which a contact's app_overrides ride in its context
OVERRIDES_KEY = "_app_overrides"


class CohortStore(Store, CampaignQueries, Protocol):
    """A store that also keeps cohorts."""


@dataclass(frozen=True)
class Row:
    phone: str
    user_identifier: str | None
    variables: Mapping[str, Any]
    overrides: Mapping[str, Any]
    #: the raw CSV record, written back to the rejected-records file if the row is refused
    record: Mapping[str, Any] | None = None
    #: set when the row already failed its own checks (a required column left empty)
    rejected_because: str | None = None

    def as_record(self) -> Mapping[str, Any]:
        if self.record is not None:
            return self.record
        return {"phone": self.phone, "user_identifier": self.user_identifier, **self.variables}


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


def normalise_phone(raw: str) -> str | None:
    """E.164, with a bare 10-digit number read as Indian (as Sarvam does); None if invalid."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else "IN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
    return _run(store, clock, job, cohort, iter(users), None)


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
        io.BufferedReader(_PartsReader(parts)), encoding="utf-8-sig", newline=""
    )
    try:
        with text:
            reader = csv.DictReader(text)
            read = _rows(reader, cohort.transformation)
            rows = itertools.islice(read, cohort.total_records, None)  # those already counted
            fieldnames = [*(reader.fieldnames or []), "rejected_reason"]
            return _run(store, clock, job, cohort, rows, fieldnames)
    except (UnicodeDecodeError, csv.Error, ValueError) as exc:  # the file's fault, for good
        return _fail(store, clock, job, cohort, f"cohort_file is not readable: {exc}")


class _PartsReader(io.RawIOBase):
    """The stored parts of a file as one readable stream."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            part = next(self._parts, None)
            if part is None:
                return 0
            self._left = part
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _rows(reader: csv.DictReader[str], mapping: Mapping[str, Any]) -> Iterator[Row]:
    phone_col = mapping["phone_number"]["column_name"]
    ident = mapping.get("user_identifier") or {}
    variables = mapping.get("app_variables", {})
    overrides = mapping.get("app_overrides", {})
    for record in reader:
        missing = [
            spec["column_name"]
            for spec in [ident, *variables.values()]
            if spec and spec.get("required") and not (record.get(spec["column_name"]) or "").strip()
        ]
        yield Row(
            phone=record.get(phone_col) or "",
            user_identifier=(record.get(ident["column_name"]) or None) if ident else None,
            variables={k: record.get(v["column_name"]) for k, v in variables.items()},
            overrides={k: record.get(v["column_name"]) for k, v in overrides.items()},
            record=record,
            rejected_because=f"required column(s) empty: {', '.join(missing)}" if missing else None,
        )


@dataclass
class _Entry:
    """A row read, with its number if it is good, or why it is refused."""

    row: Row
    phone: str | None
    reason: str | None


def _run(
    store: CohortStore,
    clock: Clock,
    job: Job,
    cohort: Cohort,
    rows: Iterator[Row],
    rejected_fields: list[str] | None,
) -> Cohort:
    """Read ``rows`` from the cohort's offset in batches, one transaction each, then
    complete it; ``rejected_fields`` are the rejected-records file's columns (None: the
    cohort keeps no files)."""
    campaign = store.get_campaign(cohort.campaign_id)
    if campaign is None:
        return _fail(store, clock, job, cohort, "the campaign is gone")
    offset = cohort.total_records
    seen: set[str] = set()  # numbers of this run; earlier runs' are in the database
    try:
        while True:
            batch = _read_batch(rows, seen, job.batch_rows)
            if not batch:
                break
            _commit(store, clock, job, campaign, cohort, offset, batch, rejected_fields)
            offset += len(batch)
        if not store.complete_cohort(cohort, job.owner, clock.now(), clock.now() + job.lease):
            raise LeaseLost(cohort.id)
    except LeaseLost:
        pass  # another process holds the job now and carries it on
    found = store.get_cohort(cohort.id)
    return found or cohort


def _read_batch(rows: Iterator[Row], seen: set[str], size: int) -> list[_Entry]:
    batch: list[_Entry] = []
    for row in itertools.islice(rows, size):
        refused = row.rejected_because or _unstorable(row)
        if refused:
            batch.append(_Entry(row, None, refused))
            continue
        phone = normalise_phone(row.phone)
        if phone is None:
            batch.append(_Entry(row, None, f"invalid phone number {row.phone!r}"))
        elif phone in seen:
            batch.append(_Entry(row, None, "phone number repeated in this cohort"))
        else:
            seen.add(phone)
            batch.append(_Entry(row, phone, None))
    return batch


def _unstorable(row: Row) -> str | None:
    """Why the database would refuse this row's values, if it would: a row that fails
    its batch every time would stop the job for good, so it is rejected on its own."""
    if row.user_identifier is not None and len(row.user_identifier) > USER_IDENTIFIER_MAX:
        return f"user_identifier longer than {USER_IDENTIFIER_MAX} characters"
    texts = [row.phone, row.user_identifier, *row.variables.values(), *row.overrides.values()]
    if any(isinstance(v, str) and "\x00" in v for v in texts):
        return "a value contains a NUL character"
    return None


def _commit(
    store: CohortStore,
    clock: Clock,
    job: Job,
    campaign: Campaign,
    cohort: Cohort,
    offset: int,
    batch: list[_Entry],
    rejected_fields: list[str] | None,
) -> None:
    """One batch, in one transaction: its contacts (each number the campaign lacks),
    its rejected rows, the cohort's counts, and the lease renewed."""
    now = clock.now()
    good = [e for e in batch if e.phone is not None]
    recipients = []
    for e in good:
        context = dict(e.row.variables)
        if e.row.overrides:
            context[OVERRIDES_KEY] = dict(e.row.overrides)
        recipients.append(campaigns.Recipient(e.phone or "", context, e.row.user_identifier))
    contacts = campaigns.contacts_for(campaign.id, recipients, now)
    with store.cohort_batch(cohort, job.owner, offset, now + job.lease) as tx:
        added = tx.add_contacts(contacts, now)
        lost = [(e, k) for e, k in zip(good, contacts, strict=True) if k.id not in added]
        owners = tx.phone_owners([k.phone for _, k in lost])
        for e, k in lost:
            e.reason = (
                "phone number repeated in this cohort"
                if owners.get(k.phone) == cohort.id
                else "the campaign already has this phone number"
            )
        refused = [e for e in batch if e.reason is not None]
        if rejected_fields is not None and (refused or offset == 0):
            tx.add_rejected(offset, _rejected_part(rejected_fields, refused, header=offset == 0))
        tx.advance(len(batch), len(added), len(refused), now)


def _rejected_part(fieldnames: list[str], refused: list[_Entry], header: bool) -> bytes:
    """The rejected-records file's lines for these rows (with its header, first)."""
    bad = io.StringIO(newline="")
    # a row longer than the header has its extra cells under None: not part of the file's
    # columns, so left out
    writer = csvout.DictWriter(bad, fieldnames, extrasaction="ignore")
    if header:
        writer.writeheader()

    def reject(record: Mapping[str, Any], reason: str) -> None:
        writer.writerow({**record, "rejected_reason": reason})

    for e in refused:
        reject(e.row.as_record(), e.reason or "")
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
