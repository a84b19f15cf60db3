"""The store queries the dashboard reads (db/sql/dashboard.py) on SQLite and PostgreSQL,
and the pure shaping in services.dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from ringcast.clock import VirtualClock
from ringcast.db import tables as t
from ringcast.db.store import SqlStore
from ringcast.readouts import AttemptMark, ContactSearch
from ringcast.services import dashboard
from tests.support import always_open_campaign

START = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
PHONES = [f"+3361234{i:04d}" for i in range(120)] + ["+447700900001", "+447700900002"]


def _campaign(engine: sa.Engine) -> tuple[SqlStore, str]:
    store = SqlStore(engine)
    clock = VirtualClock(START)
    campaign = always_open_campaign(store, clock, list(reversed(PHONES)))
    k = t.contacts
    with engine.begin() as conn:
        # three reached, two held back for the local hours, one skipped as do-not-call
        conn.execute(k.update().where(k.c.phone.in_(PHONES[:3])).values(state="reached"))
        conn.execute(
            k.update()
            .where(k.c.phone.in_(PHONES[3:5]))
            .values(reason="outside_local_hours", next_due_at=START + timedelta(hours=3))
        )
        conn.execute(
            k.update()
            .where(k.c.phone == PHONES[5])
            .values(state="skipped", reason="do_not_call", next_due_at=None)
        )
    return store, campaign.id


def test_contacts_come_in_number_order_by_keyset_pages(engine: sa.Engine) -> None:
    """Pages of 50 in number order, each starting after the last number of the one before,
    cover every contact once; the number prefix, the state and the reason narrow them."""
    store, campaign_id = _campaign(engine)
    seen: list[str] = []
    after = None
    while True:
        page, after = dashboard.contacts_page(
            store, ContactSearch(campaign_id, after=after, limit=50)
        )
        seen += [k.phone for k in page]
        if after is None:
            break
    assert seen == sorted(PHONES)
    uk, _ = dashboard.contacts_page(store, ContactSearch(campaign_id, number="44770"))
    assert [k.phone for k in uk] == ["+447700900001", "+447700900002"]
    plus, _ = dashboard.contacts_page(store, ContactSearch(campaign_id, number="+4477009000"))
    assert len(plus) == 2
    reached, _ = dashboard.contacts_page(store, ContactSearch(campaign_id, state="reached"))
    assert [k.phone for k in reached] == PHONES[:3]
    held, _ = dashboard.contacts_page(
        store, ContactSearch(campaign_id, reason="outside_local_hours")
    )
    assert [k.phone for k in held] == PHONES[3:5]
    none, nxt = dashboard.contacts_page(store, ContactSearch(campaign_id, number="1"))
    assert none == [] and nxt is None


def test_tallies_count_states_holds_and_the_next_dial(engine: sa.Engine) -> None:
    """A campaign's tally: contacts by state, the held-back ones, the earliest waiting due
    time; a campaign without contacts has no tally."""
    store, campaign_id = _campaign(engine)
    tally = store.contact_tallies([campaign_id, "00000000-0000-0000-0000-000000000000"])
    assert set(tally) == {campaign_id}
    found = tally[campaign_id]
    assert found.by_state == {"reached": 3, "skipped": 1, "waiting": len(PHONES) - 4}
    assert found.held_back == 2
    assert found.next_due_at == START == store.next_due_at(campaign_id)
    assert store.contact_tallies([]) == {}
    seen = dashboard.overview(store, store.get_campaign(campaign_id))  # type: ignore[arg-type]
    assert seen.row.tally == found
    assert seen.reasons["outside_local_hours"] == 2 and seen.reasons["do_not_call"] == 1


def test_calls_and_chart_marks_read_dialled_attempts_newest_first(engine: sa.Engine) -> None:
    """Dialled attempts come back newest first with their contact's number; the chart
    marks list them in time order; final contacts are marked when they last changed."""
    store, campaign_id = _campaign(engine)
    contacts = {k.phone: k for k in store.campaign_contacts(campaign_id)}
    a = t.attempts
    campaign = store.get_campaign(campaign_id)
    assert campaign is not None
    with engine.begin() as conn:
        for i, phone in enumerate(PHONES[:3]):
            conn.execute(
                a.insert().values(
                    id=f"00000000-0000-0000-0000-00000000000{i}",
                    contact_id=contacts[phone].id,
                    campaign_id=campaign_id,
                    org_id=campaign.org_id,
                    phone=phone,
                    number=0,
                    state="ended",
                    outcome=["completed", "no_answer", "busy"][i],
                    due_at=START,
                    dialed_at=START + timedelta(minutes=i),
                    qualifiers=[],
                    variables={},
                    dropped_variables=[],
                    created_at=START,
                )
            )
    calls = store.campaign_calls(campaign_id, 0, 2)
    assert [c.phone for c in calls] == [PHONES[2], PHONES[1]]
    assert store.campaign_calls(campaign_id, 2, 2)[0].attempt.outcome.value == "completed"
    marks = store.attempt_marks(campaign_id)
    assert [m.outcome for m in marks] == ["completed", "no_answer", "busy"]
    assert [m.dialed_at for m in marks] == [START + timedelta(minutes=i) for i in range(3)]
    assert len(store.final_marks(campaign_id)) == 4  # three reached, one skipped


def test_attempts_per_hour_follow_the_zones_hours() -> None:
    """Hours are the zone's: in Kolkata (UTC+05:30) 04:29 and 04:31 UTC fall in two hours;
    outcomes group as the chart draws them."""
    marks = [
        AttemptMark(datetime(2026, 6, 1, 4, 29, tzinfo=UTC), "completed"),
        AttemptMark(datetime(2026, 6, 1, 4, 31, tzinfo=UTC), "rejected"),
        AttemptMark(datetime(2026, 6, 1, 4, 40, tzinfo=UTC), "in_progress"),
        AttemptMark(datetime(2026, 6, 1, 4, 50, tzinfo=UTC), "provider_error"),
    ]
    hours = dashboard.hourly(marks, ZoneInfo("Asia/Kolkata"))
    assert hours["x"] == [
        datetime(2026, 6, 1, 3, 30, tzinfo=UTC).timestamp(),
        datetime(2026, 6, 1, 4, 30, tzinfo=UTC).timestamp(),
    ]
    assert hours["attempts"] == [1, 3]
    assert hours["answered"] == [1, 0] and hours["no_answer"] == [0, 1]
    assert hours["failed"] == [0, 1] and hours["in_progress"] == [0, 1]


@given(st.lists(st.integers(0, 10**6), max_size=3000))
def test_a_curve_is_thinned_but_keeps_its_last_point(offsets: list[int]) -> None:
    """However many moments, the curve has at most MAX_CURVE_POINTS points, rises, and
    ends at the full count at the last moment."""
    moments = sorted(START + timedelta(seconds=s) for s in offsets)
    points = dashboard.curve(moments, start=7)
    assert len(points) <= dashboard.MAX_CURVE_POINTS + 1
    assert [p[1] for p in points] == sorted(p[1] for p in points)
    if moments:
        assert points[-1] == [moments[-1].timestamp(), 7 + len(moments)]
    else:
        assert points == []
