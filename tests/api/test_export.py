"""The results export: one CSV row per contact or per attempt, streamed, tenant-scoped."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from ringcast.clock import VirtualClock
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult, finisher
from ringcast.db import tables as t
from ringcast.db.sql import exports
from ringcast.db.store import SqlStore
from ringcast.dispatch.loop import Dispatcher
from ringcast.services import export
from tests.support import always_open_campaign

from .conftest import Account
from .test_volubile_campaigns import valid_body


def export_url(campaign_id: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/ringcast/v1/campaigns/{campaign_id}/export" + (f"?{query}" if query else "")


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def started_campaign(client: Any, runtime: Any, clock: Any, account: Account) -> str:
    """A Volubile campaign of two recipients, both dialled, the first one answered."""
    body = valid_body(account.agent_id)
    body["recipients"][1]["context"] = {"firstName": "=HYPERLINK(1)", "vip": True}
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    campaign_id: str = r.json()["id"]
    clock.advance(timedelta(hours=2))  # Monday 10:00 in Paris: the slot is open
    dispatcher = Dispatcher(runtime.store, clock)  # no gateway: recorded, not placed
    for _ in range(20):  # the pacing dials one at a time
        asyncio.run(dispatcher.step())
        if len(runtime.store.campaign_attempts(campaign_id)) == 2:
            break
        clock.advance(timedelta(seconds=5))
    ada = next(c for c in runtime.store.campaign_contacts(campaign_id) if c.phone.endswith("78"))
    first = next(a for a in runtime.store.campaign_attempts(campaign_id) if a.contact_id == ada.id)
    clock.advance(timedelta(minutes=3))
    result = CallResult(first.id, Outcome.COMPLETED, clock.now(), answered_at=clock.now())
    assert runtime.store.end_attempt(result, finisher(result)) is not None
    return campaign_id


def test_contacts_export_has_one_row_per_contact(client, runtime, clock, account: Account) -> None:
    """Each contact is one row: its number, its context as columns, its state and its last
    call's outcome; a context cell that would be a spreadsheet formula is neutralised."""
    campaign_id = started_campaign(client, runtime, clock, account)
    r = client.get(export_url(campaign_id, format="csv"), headers=account.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = {row["phone"]: row for row in read_csv(r.text)}
    assert set(rows) == {"+33612345678", "+33612345679"}
    reached, waiting = rows["+33612345678"], rows["+33612345679"]
    assert reached["context.firstName"] == "Ada" and reached["context.orderNumber"] == "5HZ"
    assert reached["state"] == "reached" and reached["last_outcome"] == "completed"
    assert reached["attempts"] == "1" and reached["last_call_at"].startswith("2026-06-01T08:0")
    assert waiting["context.firstName"] == "'=HYPERLINK(1)" and waiting["context.vip"] == "true"
    assert waiting["context.orderNumber"] == "" and waiting["state"] == "dialing"


def test_attempts_export_has_one_row_per_attempt(client, runtime, clock, account: Account) -> None:
    """``rows=attempts`` lists every attempt with its outcome and times."""
    campaign_id = started_campaign(client, runtime, clock, account)
    r = client.get(export_url(campaign_id, rows="attempts"), headers=account.headers)
    assert r.status_code == 200, r.text
    rows = read_csv(r.text)
    assert sorted(row["phone"] for row in rows) == ["+33612345678", "+33612345679"]
    ended = next(row for row in rows if row["phone"] == "+33612345678")
    assert ended["outcome"] == "completed" and ended["attempt_number"] == "1"
    assert ended["ended_at"].startswith("2026-06-01T08:03")
    live = next(row for row in rows if row["phone"] == "+33612345679")
    assert live["ended_at"] == "" and live["state"] == "dialing"


def test_export_streams_every_row_across_batches(
    client, runtime, account: Account, monkeypatch
) -> None:
    """More rows than one database batch and one text chunk all arrive, once each."""
    monkeypatch.setattr(exports, "EXPORT_BATCH", 7)
    monkeypatch.setattr(export, "CHUNK_ROWS", 5)
    body = valid_body(account.agent_id)
    body["recipients"] = [{"phone": f"+336{10_000_000 + i:08d}"} for i in range(600)]
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    with client.stream("GET", export_url(r.json()["id"]), headers=account.headers) as streamed:
        text = "".join(streamed.iter_text())
    phones = [row["phone"] for row in read_csv(text)]
    assert len(phones) == len(set(phones)) == 600


def test_export_refusals(client, runtime, clock, account: Account, other_account: Account) -> None:
    """Another organization's campaign reads as unknown (404), an unknown format or row kind is
    a 422 naming the parameter, and no key is a 401."""
    campaign_id = started_campaign(client, runtime, clock, account)
    theirs = client.get(export_url(campaign_id), headers=other_account.headers)
    unknown = client.get(export_url("nope"), headers=account.headers)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json() | {"detail": theirs.json()["detail"]}
    bad = client.get(export_url(campaign_id, format="xlsx"), headers=account.headers)
    assert bad.status_code == 422 and "format" in bad.text and "xlsx" in bad.text
    bad = client.get(export_url(campaign_id, rows="calls"), headers=account.headers)
    assert bad.status_code == 422 and "rows" in bad.text
    assert client.get(export_url(campaign_id)).status_code == 401


@pytest.mark.postgres
def test_postgres_writes_the_same_cells_as_python(pg_engine) -> None:
    """On PostgreSQL the contact rows come from COPY; they are the very text the Python path
    writes, for the cells that differ most between the two: formulas, commas, quotes, line
    breaks, empty and absent values, accents, numbers, booleans and nested values."""
    store = SqlStore(pg_engine)
    clock = VirtualClock(datetime(2026, 6, 1, 6, 0, tzinfo=UTC))
    phones = [f"+3361234{i:04d}" for i in range(len(AWKWARD))]
    campaign = always_open_campaign(store, clock, phones)
    with pg_engine.begin() as conn:
        for phone, context in zip(phones, AWKWARD, strict=True):
            conn.execute(
                sa.update(t.contacts)
                .where(t.contacts.c.campaign_id == campaign.id, t.contacts.c.phone == phone)
                .values(context=context, user_identifier=context.get("id"), reason="")
            )
    asyncio.run(Dispatcher(store, clock).step())  # some attempts: last outcome and call time
    keys = store.context_keys(campaign.id)
    copied = store.contact_results_csv(campaign.id, keys)
    assert copied is not None
    rows = (export._contact_row(c, keys) for c in store.contact_results(campaign.id))
    by_python = "".join(export._chunks(["header"], rows)).removeprefix("header\r\n")
    assert "".join(copied).splitlines(keepends=True) == by_python.splitlines(keepends=True)
    assert "'=cmd" in by_python and "é" in by_python


AWKWARD: list[dict[str, Any]] = [
    {"name": "=cmd|' /C calc'!A0", "id": "+1 not a formula?"},
    {"name": "a,b", "note": 'say "hi"', "id": "-x"},
    {"name": "line\nbreak\r\nend", "vip": True},
    {"name": "", "count": 12, "ratio": 0.5},
    {"name": "Zoé", "tags": ["a", "b"], "nested": {"k": 1, "kk": [1, 2]}},
    {"name": "@home", "tab": "\tlead", "cr": "\rlead"},
    {},
]
