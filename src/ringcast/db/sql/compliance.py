"""Calling policies, the do-not-call list and refusals: written by people and by calls'
ends, read by the planning transaction as facts about the numbers it may dial."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ringcast.core import compliance
from ringcast.core.compliance import CallingPolicy, PhoneFacts
from ringcast.core.model import Attempt
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, is_postgres
from ringcast.db.sql.bulk import among
from ringcast.records import Campaign, DoNotCall


class ComplianceSql(SqlBase):
    def phone_facts(
        self, org_id: str, phones: Sequence[str], policy: CallingPolicy, now: datetime
    ) -> dict[str, PhoneFacts]:
        """What the planner would know about these numbers at ``now`` (for forecasts)."""
        with self.engine.connect() as conn:
            return phone_facts(conn, org_id, phones, policy, now)

    def set_calling_policy(self, org_id: str, policy: str | None) -> None:
        with self._tx() as conn:
            conn.execute(
                t.organizations.update()
                .where(t.organizations.c.id == org_id)
                .values(calling_policy=policy)
            )

    def add_do_not_call(
        self, org_id: str, phones: Sequence[str], source: str, now: datetime
    ) -> int:
        with self._tx() as conn:
            return add_to_do_not_call(conn, org_id, phones, source, now)

    def remove_do_not_call(self, org_id: str, phone: str) -> bool:
        dnc = t.do_not_call
        with self._tx() as conn:
            gone = conn.execute(
                dnc.delete().where(dnc.c.org_id == org_id, dnc.c.phone == phone)
            ).rowcount
        return bool(gone)

    def do_not_call_entry(self, org_id: str, phone: str) -> DoNotCall | None:
        dnc = t.do_not_call
        return self._one(
            dnc, sa.and_(dnc.c.org_id == org_id, dnc.c.phone == phone), mapping.do_not_call
        )

    def list_do_not_call(
        self, org_id: str, offset: int, limit: int, search: str | None = None
    ) -> tuple[list[DoNotCall], int]:
        """A page of the organization's list in number order; with ``search`` (digits),
        only the numbers that contain them."""
        dnc = t.do_not_call
        where = [dnc.c.org_id == org_id]
        if search:
            where.append(dnc.c.phone.contains(search, autoescape=True))
        return self._page(
            sa.select(dnc),
            where,
            [dnc.c.phone],
            offset,
            limit,
            mapping.do_not_call,
        )


def policy_of(conn: sa.Connection, campaign: Campaign) -> CallingPolicy:
    """The calling policy in force for the campaign (``compliance.effective_policy``)."""
    org_policy = (
        None
        if campaign.config.policy  # its own wins: the organization's is not read
        else conn.execute(
            sa.select(t.organizations.c.calling_policy).where(
                t.organizations.c.id == campaign.org_id
            )
        ).scalar_one_or_none()
    )
    return compliance.effective_policy(campaign.config.policy, org_policy)


def phone_facts(
    conn: sa.Connection, org_id: str, phones: Sequence[str], policy: CallingPolicy, now: datetime
) -> dict[str, PhoneFacts]:
    """What the organization's records say about ``phones``, for the checks at dial time."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    dnc, a, r = t.do_not_call, t.attempts, t.refusals
    listed = set(
        conn.execute(
            sa.select(dnc.c.phone).where(dnc.c.org_id == org_id, among(conn, dnc.c.phone, wanted))
        ).scalars()
    )
    dials: dict[str, list[datetime]] = {}
    if policy.max_attempts is not None:
        # The period may end up to a planning horizon later; an older dial never counts.
        for phone, at in conn.execute(
            sa.select(a.c.phone, a.c.dialed_at).where(
                a.c.org_id == org_id,
                among(conn, a.c.phone, wanted),
                a.c.dialed_at > now - policy.period,
            )
        ):
            dials.setdefault(phone, []).append(at)
    refused: dict[str, datetime] = {}
    if policy.refusal_cooldown is not None:
        for phone, at in conn.execute(
            sa.select(r.c.phone, sa.func.max(r.c.refused_at))
            .where(r.c.org_id == org_id, among(conn, r.c.phone, wanted))
            .group_by(r.c.phone)
        ):
            refused[phone] = at
    return {
        p: PhoneFacts(tuple(dials.get(p, ())), refused.get(p), p in listed)
        for p in wanted
        if p in listed or p in dials or p in refused
    }


def record_what_was_said(conn: sa.Connection, org_id: str, phone: str, ended: Attempt) -> None:
    """Keep what the call's end says for the records (``compliance.what_was_said``)."""
    said = compliance.what_was_said(ended.qualifiers, ended.ended_at)
    if said.refused_at is not None:
        conn.execute(
            t.refusals.insert().values(
                attempt_id=ended.id, org_id=org_id, phone=phone, refused_at=said.refused_at
            )
        )
    if said.opted_out_at is not None:
        add_to_do_not_call(conn, org_id, [phone], compliance.OPT_OUT_SOURCE, said.opted_out_at)


def add_to_do_not_call(
    conn: sa.Connection, org_id: str, phones: Sequence[str], source: str, now: datetime
) -> int:
    """Add the numbers not yet listed; returns how many were new."""
    dnc = t.do_not_call
    wanted = sorted(set(phones))
    if not wanted:
        return 0
    present = set(
        conn.execute(
            sa.select(dnc.c.phone).where(dnc.c.org_id == org_id, dnc.c.phone.in_(wanted))
        ).scalars()
    )
    fresh = [p for p in wanted if p not in present]
    if fresh:
        # another writer may list the same number meanwhile: theirs stands, nothing fails
        insert = (pg_insert if is_postgres(conn) else sqlite_insert)(dnc)
        conn.execute(
            insert.on_conflict_do_nothing(),
            [{"org_id": org_id, "phone": p, "source": source, "created_at": now} for p in fresh],
        )
    return len(fresh)
