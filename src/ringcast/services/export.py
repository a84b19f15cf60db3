"""A campaign's results as CSV, streamed: one row per contact, or one per attempt.

One path for every surface (the native API, the dashboard, ``ringcast campaigns
export``): the store streams rows in batches and this module turns each batch into CSV
text, so a campaign of a million contacts is exported in the memory of one batch.

Cells that customers wrote (a contact's context, its identifier) are neutralised against
CSV injection (``csvout.neutralise``); the cells ringcast wrote itself (E.164 numbers,
states, outcomes, ISO times) are validated and written as they are, so ``+33...`` stays
a number a script can read back.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from ringcast import csvout
from ringcast.csvout import neutralise
from ringcast.ports import ResultExports
from ringcast.records import AttemptResult, Campaign, ContactResult

ExportRows = Literal["contacts", "attempts"]
EXPORT_ROWS: tuple[ExportRows, ...] = ("contacts", "attempts")

#: the contact export's columns around the context's keys (which come between)
CONTACT_HEAD = ("contact_id", "phone", "user_identifier")
CONTACT_TAIL = ("state", "reason", "attempts", "last_outcome", "last_call_at", "next_due_at")
ATTEMPT_COLUMNS = (
    "attempt_id",
    "contact_id",
    "phone",
    "attempt_number",
    "state",
    "outcome",
    "due_at",
    "dialed_at",
    "answered_at",
    "ended_at",
    "duration_s",
    "connection_id",
    "caller_number",
    "answered_by",
    "retry_rule",
    "failure_reason",
)
#: rows written into one chunk of text
CHUNK_ROWS = 1_000


def csv_chunks(
    store: ResultExports, campaign: Campaign, rows: ExportRows = "contacts"
) -> Iterator[str]:
    """The campaign's results as CSV text in chunks, header first.

    The caller has checked that the campaign is the principal's (``campaigns.get``)."""
    if rows == "attempts":
        return _chunks(ATTEMPT_COLUMNS, map(_attempt_row, store.attempt_results(campaign.id)))
    keys = store.context_keys(campaign.id)
    header = (*CONTACT_HEAD, *(f"context.{key}" for key in keys), *CONTACT_TAIL)
    rendered = store.contact_results_csv(campaign.id, keys)
    if rendered is not None:  # PostgreSQL writes the same cells itself
        return itertools.chain(_chunks(header, ()), rendered)
    return _chunks(header, (_contact_row(c, keys) for c in store.contact_results(campaign.id)))


def _chunks(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csvout.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow([neutralise(name) for name in header])
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending == CHUNK_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def _contact_row(contact: ContactResult, keys: Sequence[str]) -> list[object]:
    context = contact.context
    return [
        contact.id,
        contact.phone,
        neutralise(contact.user_identifier or ""),
        *(neutralise(_cell(context.get(key))) for key in keys),
        contact.state,
        contact.reason or "",
        contact.attempts,
        contact.last_outcome or "",
        _time(contact.last_call_at),
        _time(contact.next_due_at),
    ]


def _attempt_row(attempt: AttemptResult) -> list[object]:
    return [
        attempt.id,
        attempt.contact_id,
        attempt.phone,
        attempt.number + 1,  # stored from 0; people count calls from 1
        attempt.state,
        attempt.outcome,
        _time(attempt.due_at),
        _time(attempt.dialed_at),
        _time(attempt.answered_at),
        _time(attempt.ended_at),
        "" if attempt.duration_s is None else attempt.duration_s,
        attempt.connection_id or "",
        attempt.caller_number or "",
        attempt.answered_by or "",
        attempt.retry_rule or "",
        neutralise(attempt.failure_reason or ""),
    ]


def _cell(value: Any) -> str:
    """A context value as one cell: text as it is, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)  # spaced as PostgreSQL writes JSON


def _time(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="microseconds")
