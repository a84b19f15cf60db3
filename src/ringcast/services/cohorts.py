"""Adding contacts in batches (Sarvam's cohorts): a JSON stream, or an uploaded CSV.

An upload is checked in two steps. Blocking checks refuse the whole file before anything
is stored: the mapping names columns the file has, the file has a data row, overrides and
variables are ones the agent knows. Then each row is checked on its own: a bad row is
written, with its ``rejected_reason``, to the cohort's rejected-records file and the rest
go on. The file is read row by row and contacts are written in batches, so a large upload
never sits whole in memory.
"""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import phonenumbers

from ringcast import csvout
from ringcast.clock import Clock
from ringcast.core.errors import InvalidTransition, NotFound, ValidationFailed
from ringcast.ports import CampaignQueries, Store
from ringcast.records import Campaign, Cohort
from ringcast.services import campaigns

BATCH = 1000
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


Reject = Callable[[Mapping[str, Any], str], None]


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


def cohort_dir(data_dir: Path, cohort_id: str) -> Path:
    return data_dir / "cohorts" / cohort_id


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
) -> Cohort:
    """Add up to 1000 users; an invalid number or a repeated one rejects that user only."""
    check_open(campaign)
    cohort = new_cohort(campaign, name, "stream", {}, actor, clock)
    store.add_cohort(cohort)
    total, valid, rejected = _ingest(store, clock, campaign, cohort, users, on_reject=None)
    return _complete(store, clock, cohort, total, valid, rejected)


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


def check_file(path: Path, mapping: Mapping[str, Any]) -> None:
    """Blocking checks on the file itself: a header with every mapped column, and a data row."""
    field = "cohort_file"
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            first = next(reader, None)
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
    data_dir: Path,
    actor: str,
) -> Cohort:
    """Accept a CSV upload: the mapping and the file pass the blocking checks, both are
    kept under ``data_dir``, and the cohort is stored as ``processing``; ``process_upload``
    then reads the rows. A refused upload leaves neither files nor cohort behind."""
    check_open(campaign)
    agent = store.get_agent(campaign.agent_id)
    mapping = parse_transformation(transformation, agent.variables if agent else ())
    cohort = new_cohort(campaign, name, "file_upload", mapping, actor, clock)
    folder = cohort_dir(data_dir, cohort.id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with (folder / FILE_NAMES["cohort"]).open("wb") as out:
            shutil.copyfileobj(rows, out, length=1 << 20)
        (folder / FILE_NAMES["cohort_transformation"]).write_text(
            json.dumps(mapping), encoding="utf-8"
        )
        check_file(folder / FILE_NAMES["cohort"], mapping)
        store.add_cohort(cohort)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return cohort


def cohort_file(data_dir: Path, cohort: Cohort, file_type: FileType) -> Path:
    """Where one of the cohort's files is kept; ``NotFound`` if it has none of that kind
    (a streamed cohort has no files; rejected rows exist once processing started)."""
    path = cohort_dir(data_dir, cohort.id) / FILE_NAMES[file_type]
    if not path.exists():
        raise NotFound("file", file_type)
    return path


def process_upload(
    store: CohortStore, clock: Clock, campaign: Campaign, cohort: Cohort, data_dir: Path
) -> Cohort:
    """Read the stored CSV row by row, add the good rows, write the bad ones with a reason."""
    folder = cohort_dir(data_dir, cohort.id)
    mapping = cohort.transformation
    try:
        with (
            (folder / FILE_NAMES["cohort"]).open(newline="", encoding="utf-8-sig") as src,
            (folder / FILE_NAMES["rejected_records"]).open(
                "w", newline="", encoding="utf-8"
            ) as bad,
        ):
            reader = csv.DictReader(src)
            writer = csvout.DictWriter(bad, [*(reader.fieldnames or []), "rejected_reason"])
            writer.writeheader()

            def reject(record: Mapping[str, Any], reason: str) -> None:
                writer.writerow({**record, "rejected_reason": reason})

            total, valid, rejected = _ingest(
                store, clock, campaign, cohort, _rows(reader, mapping), on_reject=reject
            )
    except Exception as exc:  # a failed background job must say so on the cohort
        failed = replace(
            cohort, status="failed", failure_reason=str(exc)[:500], updated_at=clock.now()
        )
        store.finish_cohort(failed)
        return failed
    return _complete(store, clock, cohort, total, valid, rejected)


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


def _ingest(
    store: CohortStore,
    clock: Clock,
    campaign: Campaign,
    cohort: Cohort,
    rows: Iterable[Row],
    on_reject: Reject | None,
) -> tuple[int, int, int]:
    """Validate and add rows in batches; returns (total, valid, rejected)."""
    total = valid = rejected = 0
    seen: set[str] = set()
    batch: list[tuple[Row, str]] = []

    def refuse(row: Row, reason: str) -> None:
        nonlocal rejected
        rejected += 1
        if on_reject is not None:
            on_reject(row.as_record(), reason)

    def flush() -> int:
        existing = store.phones_in_campaign(campaign.id, [p for _, p in batch])
        keep = []
        for row, phone in batch:
            if phone in existing:
                refuse(row, "the campaign already has this phone number")
                continue
            context = dict(row.variables)
            if row.overrides:
                context[OVERRIDES_KEY] = dict(row.overrides)
            keep.append(campaigns.Recipient(phone, context, row.user_identifier))
        if keep:
            now = clock.now()
            contacts = campaigns.contacts_for(campaign.id, keep, now)
            store.add_contacts(
                campaign.id, [replace(k, cohort_id=cohort.id) for k in contacts], now
            )
        batch.clear()
        return len(keep)

    for row in rows:
        total += 1
        if row.rejected_because:
            refuse(row, row.rejected_because)
            continue
        phone = normalise_phone(row.phone)
        if phone is None:
            refuse(row, f"invalid phone number {row.phone!r}")
        elif phone in seen:
            refuse(row, "phone number repeated in this cohort")
        else:
            seen.add(phone)
            batch.append((row, phone))
            if len(batch) >= BATCH:
                valid += flush()
    if batch:
        valid += flush()
    return total, valid, rejected


def _complete(
    store: CohortStore, clock: Clock, cohort: Cohort, total: int, valid: int, rejected: int
) -> Cohort:
    done = replace(
        cohort,
        status="completed",
        total_records=total,
        valid_records=valid,
        rejected_records=rejected,
        updated_at=clock.now(),
    )
    store.finish_cohort(done)
    return done


def get(store: CohortStore, campaign: Campaign, cohort_id: str) -> Cohort:
    cohort = store.get_cohort(cohort_id)
    if cohort is None or cohort.campaign_id != campaign.id:
        raise NotFound("cohort", cohort_id)
    return cohort
