"""Campaigns, their contacts and cohorts: what every surface writes, and the lists and
figures the API surfaces show."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.core.errors import Conflict, NotFound
from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.states import DIALLING_STATUSES, CampaignStatus
from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql import bulk, outbox
from ringcast.db.sql.base import SqlBase
from ringcast.records import COHORT_PENDING, HIDDEN_MARKER, Campaign, CampaignQuery, Cohort
from ringcast.webhooks import outbox as fan_out


class CampaignsSql(SqlBase):
    def create_campaign(self, campaign: Campaign, contacts: Sequence[Contact]) -> None:
        with self._tx() as conn:
            conn.execute(t.campaigns.insert().values(**mapping.new_campaign_values(campaign)))
            _insert_contacts(
                conn,
                campaign.org_id,
                contacts,
                campaign.created_at,
                repeatable=HIDDEN_MARKER in campaign.extra,
            )

    def ensure_direct_campaign(self, campaign: Campaign) -> Campaign:
        """The organization's hidden campaign for the agent ``campaign.extra`` names under
        ``HIDDEN_MARKER``: the one stored, else ``campaign``, stored now.

        Callers racing to make the first one all get the same: the agent is a unique key
        of the campaigns table, so a second insert fails and reads back the first.
        """
        agent_id = campaign.extra.get(HIDDEN_MARKER)
        if not agent_id:
            raise ValueError(f"campaign {campaign.id} is not a direct-calls campaign")
        found = self._direct_campaign(campaign.org_id, str(agent_id))
        if found is not None:
            return found
        try:
            self.create_campaign(campaign, ())
        except Conflict:
            found = self._direct_campaign(campaign.org_id, str(agent_id))
            if found is None:  # another constraint refused it: not a race
                raise
            return found
        return campaign

    def _direct_campaign(self, org_id: str, agent_id: str) -> Campaign | None:
        c = t.campaigns
        return self._one(
            c,
            sa.and_(c.c.org_id == org_id, c.c.direct_calls_of_agent == agent_id),
            mapping.campaign,
        )

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return self._one(t.campaigns, t.campaigns.c.id == campaign_id, mapping.campaign)

    def find_campaign_by_extra(self, org_id: str, key: str, value: str) -> Campaign | None:
        c = t.campaigns
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(c)
                .where(c.c.org_id == org_id, c.c.extra[key].as_string() == value)
                .order_by(c.c.created_at, c.c.id)
                .limit(1)
            ).first()
        return None if row is None else mapping.campaign(row)

    def update_campaign(self, campaign: Campaign) -> None:
        c = t.campaigns
        with self._tx() as conn:
            done = conn.execute(
                c.update()
                .where(c.c.id == campaign.id)
                .values(**mapping.campaign_values(campaign), next_wake_at=campaign.updated_at)
            )
            if done.rowcount == 0:
                raise NotFound("campaign", campaign.id)

    def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, at: datetime, by: str | None = None
    ) -> None:
        """Move the campaign to ``status``, with the lifecycle webhook the move makes;
        cancelling also cancels every waiting contact, in the same transaction."""
        c, k = t.campaigns, t.contacts
        values: dict[str, Any] = {"status": status.value, "updated_at": at, "next_wake_at": at}
        if by is not None:
            values["updated_by"] = by
        with self._tx() as conn:
            row = conn.execute(sa.select(c).where(c.c.id == campaign_id)).first()
            conn.execute(c.update().where(c.c.id == campaign_id).values(**values))
            if status is CampaignStatus.CANCELLED:
                # Calls in progress finish; their contacts are cancelled when they end.
                conn.execute(
                    k.update()
                    .where(k.c.campaign_id == campaign_id, k.c.state == ContactState.WAITING.value)
                    .values(state=ContactState.CANCELLED.value, next_due_at=None, updated_at=at)
                )
            if row is not None:
                before = mapping.campaign(row)
                account = outbox.account_url(conn, before.org_id)
                outbox.queue(conn, fan_out.after_action(before, status, at, account))

    def add_contacts(
        self, campaign_id: str, contacts: Sequence[Contact], now: datetime
    ) -> list[Contact]:
        c = t.campaigns
        with self._tx() as conn:
            found = conn.execute(
                sa.select(c.c.org_id, c.c.direct_calls_of_agent).where(c.c.id == campaign_id)
            ).first()
            if found is None:
                raise NotFound("campaign", campaign_id)
            hidden = found.direct_calls_of_agent is not None
            added = _insert_contacts(conn, found.org_id, contacts, now, repeatable=hidden)
            conn.execute(c.update().where(c.c.id == campaign_id).values(next_wake_at=now))
        return [k for k in contacts if k.id in added]

    def get_contact(self, contact_id: str) -> Contact | None:
        return self._one(t.contacts, t.contacts.c.id == contact_id, mapping.contact)

    def count_contacts(self, campaign_id: str) -> dict[ContactState, int]:
        k = t.contacts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(k.c.state, sa.func.count())
                .where(k.c.campaign_id == campaign_id)
                .group_by(k.c.state)
            ).all()
        return {ContactState(state): n for state, n in rows}

    def contact_figures(self, campaign_id: str) -> dict[tuple[ContactState, str | None], int]:
        """Contacts by state and reason (why they wait, or why they were skipped)."""
        k = t.contacts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(k.c.state, k.c.reason, sa.func.count())
                .where(k.c.campaign_id == campaign_id)
                .group_by(k.c.state, k.c.reason)
            ).all()
        return {(ContactState(state), reason): n for state, reason, n in rows}

    def next_due_at(self, campaign_id: str) -> datetime | None:
        """When the campaign's earliest waiting contact is due (one probe of
        ``ix_contacts_due``), or None when none waits."""
        k = t.contacts
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.min(k.c.next_due_at)).where(
                    k.c.campaign_id == campaign_id, k.c.state == ContactState.WAITING.value
                )
            ).scalar_one_or_none()

    def list_contacts(
        self, campaign_id: str, reason: str | None, offset: int, limit: int
    ) -> tuple[list[Contact], int]:
        k = t.contacts
        where = [k.c.campaign_id == campaign_id]
        if reason is not None:
            where.append(k.c.reason == reason)
        return self._page(
            sa.select(k), where, [k.c.created_at, k.c.id], offset, limit, mapping.contact
        )

    def set_contact_zone(self, contact_id: str, zone: str | None, now: datetime) -> Contact | None:
        """Give a contact its zone; one waiting for want of a zone becomes due at once."""
        k = t.contacts
        with self._tx() as conn:
            row = conn.execute(sa.select(k).where(k.c.id == contact_id)).first()
            if row is None:
                return None
            contact = mapping.contact(row)
            values: dict[str, Any] = {"timezone": zone, "updated_at": now}
            if (
                contact.state is ContactState.WAITING
                and contact.next_due_at is None
                and contact.reason != COHORT_PENDING  # held until its cohort completes
            ):
                values.update(next_due_at=now, reason=None)
                conn.execute(
                    t.campaigns.update()
                    .where(t.campaigns.c.id == contact.campaign_id)
                    .values(next_wake_at=now)
                )
            conn.execute(k.update().where(k.c.id == contact_id).values(**values))
            return mapping.contact(conn.execute(sa.select(k).where(k.c.id == contact_id)).one())

    def attempts_of(self, contact_id: str) -> list[Attempt]:
        a = t.attempts
        return self._all(
            sa.select(a).where(a.c.contact_id == contact_id).order_by(a.c.number),
            mapping.attempt,
        )

    def campaign_contacts(self, campaign_id: str) -> list[Contact]:
        k = t.contacts
        return self._all(
            sa.select(k).where(k.c.campaign_id == campaign_id).order_by(k.c.id), mapping.contact
        )

    def campaign_attempts(self, campaign_id: str) -> list[Attempt]:
        a = t.attempts
        return self._all(
            sa.select(a).where(a.c.campaign_id == campaign_id).order_by(a.c.id), mapping.attempt
        )

    # --- what the API surfaces list ------------------------------------------------------
    def list_campaigns(
        self, where: CampaignQuery, offset: int, limit: int
    ) -> tuple[list[Campaign], int]:
        c = t.campaigns
        conditions: list[Any] = [_not_hidden()]
        if where.workspace_id is not None:
            conditions.append(c.c.workspace_id == where.workspace_id)
        if where.org_id is not None:
            conditions.append(c.c.org_id == where.org_id)
        if where.workspace_id is None and where.org_id is None:
            raise ValueError("a campaign query names a workspace or an organization")
        if where.status is not None:
            conditions.append(c.c.status == where.status)
        if where.search:
            conditions.append(
                sa.func.lower(c.c.name).contains(where.search.lower(), autoescape=True)
            )
        column = {
            "created_at": c.c.created_at,
            "updated_at": c.c.updated_at,
            "name": c.c.name,
            "start_timestamp": c.c.starts_at,
        }[where.sort_by]
        order = column.desc() if where.descending else column.asc()
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).where(*conditions)).scalar_one()
            rows = conn.execute(
                sa.select(c).where(*conditions).order_by(order, c.c.id).offset(offset).limit(limit)
            ).all()
        return [mapping.campaign(r) for r in rows], total

    def count_live_campaigns(self, workspace_id: str) -> int:
        """Campaigns of the workspace that may dial (scheduled or active)."""
        c = t.campaigns
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(
                        c.c.workspace_id == workspace_id,
                        c.c.status.in_(sorted(s.value for s in DIALLING_STATUSES)),
                        _not_hidden(),
                    )
                ).scalar_one()
            )

    def get_cohort(self, cohort_id: str) -> Cohort | None:
        return self._one(t.cohorts, t.cohorts.c.id == cohort_id, mapping.cohort)

    def list_cohorts(self, campaign_id: str) -> list[Cohort]:
        h = t.cohorts
        return self._all(
            sa.select(h).where(h.c.campaign_id == campaign_id).order_by(h.c.created_at, h.c.id),
            mapping.cohort,
        )


def _insert_contacts(
    conn: sa.Connection,
    org_id: str,
    contacts: Sequence[Contact],
    now: datetime,
    *,
    repeatable: bool = False,
) -> set[str]:
    """Insert the contacts whose number the campaign does not have yet; the ids of those
    inserted. ``ux_contacts_campaign_phone`` decides, so concurrent adds of one number
    leave one contact (the hidden direct-calls campaigns' contacts are ``repeatable``)."""
    rows = [
        {**mapping.new_contact_values(org_id, k, now), "repeatable": repeatable} for k in contacts
    ]
    return set(
        bulk.insert_new_rows(conn, t.contacts, rows, t.contacts_once_per_campaign, returning="id")
    )


def _not_hidden() -> Any:
    """Not a hidden direct-calls campaign: those are never listed or counted."""
    return t.campaigns.c.extra[HIDDEN_MARKER].as_string().is_(None)
