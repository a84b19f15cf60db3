"""The SQL store: one implementation of ``ports.Store`` for SQLite and PostgreSQL.

Each method is one short transaction. Rows become core values here and nowhere else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ringcast.core import compliance
from ringcast.core.compliance import POLICIES, CallingPolicy, PhoneFacts
from ringcast.core.errors import Conflict, NotFound
from ringcast.core.lines import Line
from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.planner import CampaignSnapshot, contacts_wanted
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CALL_LEASE, NUMBER_IN_CALL_WAIT, CallResult, Finish, TickWrites
from ringcast.db import tables as t
from ringcast.db.codec import config_from_json, config_to_json
from ringcast.db.types import UTCDateTime
from ringcast.records import (
    HIDDEN_MARKER,
    Agent,
    AgentType,
    ApiKey,
    CallFilter,
    CallRecord,
    Campaign,
    CampaignQuery,
    Cohort,
    Connection,
    Dialect,
    DoNotCall,
    Organization,
    OutboxEntry,
    PendingDelivery,
    Workspace,
)

_T = TypeVar("_T")

#: (old status, new status) of a person's action -> the lifecycle event it sends
LIFECYCLE_ON_ACTION = {
    ("scheduled", "paused"): "campaign.paused",
    ("active", "paused"): "campaign.paused",
    ("paused", "scheduled"): "campaign.resumed",
    ("scheduled", "cancelled"): "campaign.cancelled",
    ("active", "cancelled"): "campaign.cancelled",
    ("paused", "cancelled"): "campaign.cancelled",
}


class SqlStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc

    # --- accounts ---------------------------------------------------------------
    def ensure_organization(self, org_id: str, name: str, now: datetime) -> Organization:
        with self._tx() as conn:
            row = conn.execute(
                sa.select(t.organizations).where(t.organizations.c.name == name)
            ).first()
            if row is None:
                conn.execute(t.organizations.insert().values(id=org_id, name=name, created_at=now))
                return Organization(org_id, name, now)
            return _org(row)

    def ensure_workspace(self, ws_id: str, org_id: str, name: str, now: datetime) -> Workspace:
        w = t.workspaces
        with self._tx() as conn:
            row = conn.execute(sa.select(w).where(w.c.org_id == org_id, w.c.name == name)).first()
            if row is not None:
                return _workspace(row)
            has_default = conn.execute(
                sa.select(sa.func.count()).where(w.c.org_id == org_id, w.c.is_default)
            ).scalar_one()
            values = {"id": ws_id, "org_id": org_id, "name": name, "is_default": not has_default}
            conn.execute(w.insert().values(**values, created_at=now))
            return Workspace(ws_id, org_id, name, not has_default, now)

    def get_organization(self, org_id: str) -> Organization | None:
        return self._one(t.organizations, t.organizations.c.id == org_id, _org)

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self._one(t.workspaces, t.workspaces.c.id == workspace_id, _workspace)

    def default_workspace(self, org_id: str) -> Workspace | None:
        w = t.workspaces
        return self._one(w, sa.and_(w.c.org_id == org_id, w.c.is_default), _workspace)

    def add_api_key(self, key: ApiKey) -> None:
        with self._tx() as conn:
            conn.execute(t.api_keys.insert().values(**_fields(key)))

    def find_api_key(self, prefix: str) -> ApiKey | None:
        return self._one(t.api_keys, t.api_keys.c.prefix == prefix, _api_key)

    def revoke_api_key(self, prefix: str, at: datetime) -> bool:
        k = t.api_keys
        with self._tx() as conn:
            exists = conn.execute(sa.select(k.c.id).where(k.c.prefix == prefix)).first()
            conn.execute(
                k.update()
                .where(k.c.prefix == prefix, k.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return exists is not None

    def add_agent(self, agent: Agent) -> None:
        with self._tx() as conn:
            conn.execute(
                t.agents.insert().values(
                    id=agent.id,
                    org_id=agent.org_id,
                    name=agent.name,
                    type=agent.type.value,
                    active=agent.active,
                    recordable=agent.recordable,
                    archived=agent.archived,
                    created_at=agent.created_at,
                )
            )
            conn.execute(
                t.agent_versions.insert().values(
                    id=str(uuid.uuid4()),
                    agent_id=agent.id,
                    version=agent.version,
                    prompt_template=agent.prompt_template,
                    variables=list(agent.variables),
                    created_at=agent.created_at,
                )
            )

    def get_agent(self, agent_id: str) -> Agent | None:
        with self.engine.connect() as conn:
            row = conn.execute(_agent_query().where(t.agents.c.id == agent_id)).first()
        return None if row is None else _agent(row)

    def list_agents(self, org_id: str, offset: int, limit: int) -> tuple[list[Agent], int]:
        a = t.agents
        return self._page(
            _agent_query(), [a.c.org_id == org_id], [a.c.created_at, a.c.id], offset, limit, _agent
        )

    def update_agent(self, agent: Agent) -> None:
        a = t.agents
        with self._tx() as conn:
            done = conn.execute(
                a.update()
                .where(a.c.id == agent.id)
                .values(
                    name=agent.name,
                    active=agent.active,
                    recordable=agent.recordable,
                    archived=agent.archived,
                )
            )
            if done.rowcount == 0:
                raise NotFound("agent", agent.id)

    def set_account_webhook(self, org_id: str, url: str | None, secret: str | None) -> None:
        o = t.organizations
        with self._tx() as conn:
            conn.execute(
                o.update().where(o.c.id == org_id).values(webhook_url=url, webhook_secret=secret)
            )

    # --- campaigns and contacts ---------------------------------------------------
    def create_campaign(self, campaign: Campaign, contacts: Sequence[Contact]) -> None:
        cfg = campaign.config
        with self._tx() as conn:
            conn.execute(
                t.campaigns.insert().values(
                    id=cfg.id,
                    org_id=campaign.org_id,
                    workspace_id=campaign.workspace_id,
                    name=campaign.name,
                    description=campaign.description,
                    agent_id=campaign.agent_id,
                    agent_version=campaign.agent_version,
                    status=cfg.status.value,
                    dialect=campaign.dialect.value,
                    config=config_to_json(cfg),
                    extra=dict(campaign.extra),
                    timezone=cfg.schedule.weekly.zone,
                    starts_at=cfg.schedule.starts_at,
                    ends_at=cfg.schedule.ends_at,
                    created_by=campaign.created_by,
                    updated_by=campaign.updated_by,
                    created_at=campaign.created_at,
                    updated_at=campaign.updated_at,
                    next_wake_at=campaign.created_at,
                )
            )
            self._insert_contacts(conn, campaign.org_id, contacts, campaign.created_at)

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return self._one(t.campaigns, t.campaigns.c.id == campaign_id, _campaign)

    def find_campaign_by_extra(self, org_id: str, key: str, value: str) -> Campaign | None:
        c = t.campaigns
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(c)
                .where(c.c.org_id == org_id, c.c.extra[key].as_string() == value)
                .order_by(c.c.created_at, c.c.id)
                .limit(1)
            ).first()
        return None if row is None else _campaign(row)

    def update_campaign(self, campaign: Campaign) -> None:
        c, cfg = t.campaigns, campaign.config
        with self._tx() as conn:
            done = conn.execute(
                c.update()
                .where(c.c.id == campaign.id)
                .values(
                    name=campaign.name,
                    description=campaign.description,
                    agent_id=campaign.agent_id,
                    agent_version=campaign.agent_version,
                    config=config_to_json(cfg),
                    extra=dict(campaign.extra),
                    timezone=cfg.schedule.weekly.zone,
                    starts_at=cfg.schedule.starts_at,
                    ends_at=cfg.schedule.ends_at,
                    updated_by=campaign.updated_by,
                    updated_at=campaign.updated_at,
                    next_wake_at=campaign.updated_at,
                )
            )
            if done.rowcount == 0:
                raise NotFound("campaign", campaign.id)

    def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, at: datetime, by: str | None = None
    ) -> None:
        c = t.campaigns
        values: dict[str, Any] = {"status": status.value, "updated_at": at, "next_wake_at": at}
        if by is not None:
            values["updated_by"] = by
        with self._tx() as conn:
            row = conn.execute(sa.select(c).where(c.c.id == campaign_id)).first()
            conn.execute(c.update().where(c.c.id == campaign_id).values(**values))
            if row is not None:
                event = LIFECYCLE_ON_ACTION.get((row.status, status.value))
                if event:
                    self._queue_lifecycle(conn, _campaign(row), status, event, at)

    def add_contacts(self, campaign_id: str, contacts: Sequence[Contact], now: datetime) -> None:
        c = t.campaigns
        with self._tx() as conn:
            org_id = conn.execute(
                sa.select(c.c.org_id).where(c.c.id == campaign_id)
            ).scalar_one_or_none()
            if org_id is None:
                raise NotFound("campaign", campaign_id)
            self._insert_contacts(conn, org_id, contacts, now)
            conn.execute(c.update().where(c.c.id == campaign_id).values(next_wake_at=now))

    def _insert_contacts(
        self, conn: sa.Connection, org_id: str, contacts: Sequence[Contact], now: datetime
    ) -> None:
        if not contacts:
            return
        conn.execute(
            t.contacts.insert(),
            [
                {
                    "id": k.id,
                    "campaign_id": k.campaign_id,
                    "org_id": org_id,
                    "phone": k.phone,
                    "user_identifier": k.user_identifier,
                    "cohort_id": k.cohort_id,
                    "context": dict(k.context),
                    "state": k.state.value,
                    "next_due_at": k.next_due_at,
                    "attempts": k.attempts,
                    "reason": k.reason,
                    "timezone": k.zone,
                    "created_at": now,
                    "updated_at": now,
                }
                for k in contacts
            ],
        )

    def get_contact(self, contact_id: str) -> Contact | None:
        return self._one(t.contacts, t.contacts.c.id == contact_id, _contact)

    def cancel_waiting_contacts(self, campaign_id: str, at: datetime) -> int:
        k = t.contacts
        with self._tx() as conn:
            done = conn.execute(
                k.update()
                .where(k.c.campaign_id == campaign_id, k.c.state == ContactState.WAITING.value)
                .values(state=ContactState.CANCELLED.value, next_due_at=None, updated_at=at)
            )
            return done.rowcount

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

    def list_contacts(
        self, campaign_id: str, reason: str | None, offset: int, limit: int
    ) -> tuple[list[Contact], int]:
        k = t.contacts
        where = [k.c.campaign_id == campaign_id]
        if reason is not None:
            where.append(k.c.reason == reason)
        return self._page(sa.select(k), where, [k.c.created_at, k.c.id], offset, limit, _contact)

    def set_contact_zone(self, contact_id: str, zone: str | None, now: datetime) -> Contact | None:
        """Give a contact its zone; one waiting for want of a zone becomes due at once."""
        k = t.contacts
        with self._tx() as conn:
            row = conn.execute(sa.select(k).where(k.c.id == contact_id)).first()
            if row is None:
                return None
            contact = _contact(row)
            values: dict[str, Any] = {"timezone": zone, "updated_at": now}
            if contact.state is ContactState.WAITING and contact.next_due_at is None:
                values.update(next_due_at=now, reason=None)
                conn.execute(
                    t.campaigns.update()
                    .where(t.campaigns.c.id == contact.campaign_id)
                    .values(next_wake_at=now)
                )
            conn.execute(k.update().where(k.c.id == contact_id).values(**values))
            return _contact(conn.execute(sa.select(k).where(k.c.id == contact_id)).one())

    # --- compliance: policies and the do-not-call list --------------------------------
    def phone_facts(
        self, org_id: str, phones: Sequence[str], policy: CallingPolicy, now: datetime
    ) -> dict[str, PhoneFacts]:
        """What the planner would know about these numbers at ``now`` (for forecasts)."""
        with self.engine.connect() as conn:
            return _phone_facts(conn, org_id, phones, policy, now)

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
            return _add_to_do_not_call(conn, org_id, phones, source, now)

    def remove_do_not_call(self, org_id: str, phone: str) -> bool:
        dnc = t.do_not_call
        with self._tx() as conn:
            gone = conn.execute(
                dnc.delete().where(dnc.c.org_id == org_id, dnc.c.phone == phone)
            ).rowcount
        return bool(gone)

    def do_not_call_entry(self, org_id: str, phone: str) -> DoNotCall | None:
        dnc = t.do_not_call
        return self._one(dnc, sa.and_(dnc.c.org_id == org_id, dnc.c.phone == phone), _do_not_call)

    def list_do_not_call(self, org_id: str, offset: int, limit: int) -> tuple[list[DoNotCall], int]:
        dnc = t.do_not_call
        return self._page(
            sa.select(dnc), [dnc.c.org_id == org_id], [dnc.c.phone], offset, limit, _do_not_call
        )

    # --- connections -------------------------------------------------------------------
    def put_connection(self, connection: Connection) -> bool:
        """Register or replace a connection; True if it is new. Its counters are kept."""
        k = t.connections
        values = {
            "name": connection.name,
            "gateway_kind": connection.gateway,
            "settings": dict(connection.settings),
            "caller_numbers": list(connection.caller_numbers),
            "max_attempts_per_second": connection.max_attempts_per_second,
            "max_concurrent": connection.max_concurrent,
            "updated_at": connection.updated_at,
        }
        where = sa.and_(k.c.org_id == connection.org_id, k.c.id == connection.id)
        with self._tx() as conn:
            if conn.execute(k.update().where(where).values(**values)).rowcount:
                return False
            conn.execute(
                k.insert().values(
                    org_id=connection.org_id,
                    id=connection.id,
                    in_flight=0,
                    created_at=connection.created_at,
                    **values,
                )
            )
        return True

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None:
        k = t.connections
        return self._one(k, sa.and_(k.c.org_id == org_id, k.c.id == connection_id), _connection)

    def list_connections(self, org_id: str) -> list[Connection]:
        k = t.connections
        return self._all(sa.select(k).where(k.c.org_id == org_id).order_by(k.c.id), _connection)

    def remove_connection(self, org_id: str, connection_id: str) -> bool:
        k = t.connections
        with self._tx() as conn:
            gone = conn.execute(
                k.delete().where(k.c.org_id == org_id, k.c.id == connection_id)
            ).rowcount
        return bool(gone)

    # --- dispatch -------------------------------------------------------------------
    def load_snapshot(
        self, campaign_id: str, now: datetime, horizon: timedelta, limit: int
    ) -> CampaignSnapshot | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.campaigns).where(t.campaigns.c.id == campaign_id)
            ).first()
            if row is None:
                return None
            due, next_due_at = _due_contacts(conn, campaign_id, now + horizon, limit)
        return CampaignSnapshot(_campaign(row).config, _counters(row), due, next_due_at)

    def record_dials(
        self, campaign_id: str, dials: Sequence[tuple[Contact, Attempt]], counters: PacingCounters
    ) -> None:
        c, k = t.campaigns, t.contacts
        with self._tx() as conn:
            if dials:
                org_id = conn.execute(
                    sa.select(c.c.org_id).where(c.c.id == campaign_id)
                ).scalar_one()
                conn.execute(
                    t.attempts.insert(), [_attempt_row(org_id, contact, a) for contact, a in dials]
                )
                for contact, _ in dials:
                    conn.execute(
                        k.update()
                        .where(k.c.id == contact.id)
                        .values(
                            state=contact.state.value,
                            next_due_at=contact.next_due_at,
                            attempts=contact.attempts,
                            updated_at=_dialed_at(dials),
                        )
                    )
            conn.execute(
                c.update()
                .where(c.c.id == campaign_id)
                .values(
                    next_slot_at=counters.next_slot_at,
                    day=counters.day,
                    dialed_today=counters.dialed_today,
                    in_flight=counters.in_flight,
                )
            )

    def record_attempt_end(self, contact: Contact, attempt: Attempt) -> None:
        with self._tx() as conn:
            campaign = _campaign(
                conn.execute(
                    sa.select(t.campaigns).where(t.campaigns.c.id == attempt.campaign_id)
                ).one()
            )
            _write_ends(conn, [(contact, attempt, {})])
            _free_places(conn, [(contact, attempt, {})], {campaign.id: campaign})

    def attempts_of(self, contact_id: str) -> list[Attempt]:
        a = t.attempts
        return self._all(
            sa.select(a).where(a.c.contact_id == contact_id).order_by(a.c.number), _attempt
        )

    def campaign_contacts(self, campaign_id: str) -> list[Contact]:
        k = t.contacts
        return self._all(
            sa.select(k).where(k.c.campaign_id == campaign_id).order_by(k.c.id), _contact
        )

    def campaign_attempts(self, campaign_id: str) -> list[Attempt]:
        a = t.attempts
        return self._all(
            sa.select(a).where(a.c.campaign_id == campaign_id).order_by(a.c.id), _attempt
        )

    def _page(
        self,
        query: sa.Select[Any],
        where: Sequence[Any],
        order: Sequence[Any],
        offset: int,
        limit: int,
        make: Callable[[sa.Row[Any]], _T],
    ) -> tuple[list[_T], int]:
        """One page of rows in ``order``, and how many match in all."""
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
            rows = conn.execute(
                query.where(*where).order_by(*order).offset(offset).limit(limit)
            ).all()
        return [make(r) for r in rows], total

    def _all(self, query: sa.Select[Any], make: Callable[[sa.Row[Any]], _T]) -> list[_T]:
        with self.engine.connect() as conn:
            return [make(r) for r in conn.execute(query).all()]

    # --- the dispatcher's transactions ---------------------------------------------------
    def earliest_wake(self) -> datetime | None:
        """When the next live campaign wants planning (drives virtual time)."""
        c = t.campaigns
        with self.engine.connect() as conn:
            at = conn.execute(
                sa.select(sa.func.min(c.c.next_wake_at)).where(
                    c.c.status.in_(["scheduled", "active", "paused"])
                )
            ).scalar()
        return at  # min() keeps the column type, so this is an aware UTC datetime

    def campaigns_to_plan(self, now: datetime, limit: int) -> list[str]:
        """Live campaigns whose wake-up time has come, most overdue first."""
        c = t.campaigns
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(c.c.id)
                .where(
                    c.c.status.in_(["scheduled", "active", "paused"]),
                    c.c.next_wake_at <= now,
                )
                .order_by(c.c.next_wake_at)
                .limit(limit)
            ).all()
        return [r.id for r in rows]

    def run_tick(
        self,
        campaign_id: str,
        now: datetime,
        horizon: timedelta,
        limit: int,
        decide: Callable[[CampaignSnapshot, Sequence[str]], TickWrites],
        lease: timedelta = CALL_LEASE,
    ) -> TickWrites | None:
        """Plan one campaign and write the result in one transaction.

        On PostgreSQL the campaign row is locked with SKIP LOCKED: one worker plans a
        campaign at a time, so the pacing counters in its row hold exactly across all
        workers; a worker that finds it locked moves on (None).
        """
        c = t.campaigns
        with self._tx() as conn:
            query = sa.select(c).where(c.c.id == campaign_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            campaign = _campaign(row)
            counters = _counters(row)
            limit = contacts_wanted(campaign.config, counters, now, horizon, limit)
            due, next_due_at = _due_contacts(conn, campaign_id, now + horizon, limit)
            busy = self._phones_in_calls(conn, campaign.org_id, [x.phone for x in due])
            held = [x for x in due if x.phone in busy]
            due = [x for x in due if x.phone not in busy]
            variables = (
                conn.execute(
                    sa.select(t.agent_versions.c.variables)
                    .where(t.agent_versions.c.agent_id == campaign.agent_id)
                    .order_by(t.agent_versions.c.version.desc())
                    .limit(1)
                ).scalar_one_or_none()
                or []
            )
            policy = self._policy(conn, campaign)
            snapshot = CampaignSnapshot(
                campaign.config,
                counters,
                due,
                next_due_at,
                policy=policy,
                facts=_phone_facts(conn, campaign.org_id, [x.phone for x in due], policy, now),
                lines=_lines(conn, campaign) if due else {},
            )
            writes = decide(snapshot, variables)
            self._write_tick(conn, campaign, writes, held, now, lease)
            return replace(
                writes,
                agent_id=campaign.agent_id,
                agent_version=campaign.agent_version,
                org_id=campaign.org_id,
            )

    def _policy(self, conn: sa.Connection, campaign: Campaign) -> CallingPolicy:
        name = (
            campaign.config.policy
            or conn.execute(
                sa.select(t.organizations.c.calling_policy).where(
                    t.organizations.c.id == campaign.org_id
                )
            ).scalar_one_or_none()
        )
        return POLICIES.get(name or "none", POLICIES["none"])

    def _phones_in_calls(self, conn: sa.Connection, org_id: str, phones: Sequence[str]) -> set[str]:
        a = t.attempts
        if not phones:
            return set()
        rows = conn.execute(
            sa.select(a.c.phone).where(
                a.c.org_id == org_id, a.c.state == "dialing", _among(conn, a.c.phone, phones)
            )
        ).all()
        return {r.phone for r in rows}

    def _write_tick(
        self,
        conn: sa.Connection,
        campaign: Campaign,
        writes: TickWrites,
        held: Sequence[Contact],
        now: datetime,
        lease: timedelta,
    ) -> None:
        c, k = t.campaigns, t.contacts
        values: dict[str, Any] = {"next_wake_at": writes.next_wake_at}
        if writes.counters is not None:
            values.update(
                next_slot_at=writes.counters.next_slot_at,
                day=writes.counters.day,
                dialed_today=writes.counters.dialed_today,
                in_flight=writes.counters.in_flight,
            )
        if writes.status is not None:
            values.update(status=writes.status.value, updated_at=now)
            event = {"active": "campaign.activated", "ended": "campaign.ended"}.get(
                writes.status.value
            )
            if event:
                self._queue_lifecycle(conn, campaign, writes.status, event, now)
        if held:
            # a number already in a call (another campaign's) waits a little, then tries again
            retry_at = now + NUMBER_IN_CALL_WAIT
            values["next_wake_at"] = min(retry_at, writes.next_wake_at or retry_at)
            conn.execute(
                k.update()
                .where(k.c.id.in_([x.id for x in held]), k.c.state == ContactState.WAITING.value)
                .values(next_due_at=retry_at, reason="number_in_call", updated_at=now)
            )
        conn.execute(c.update().where(c.c.id == campaign.id).values(**values))
        if writes.dials:
            _insert_rows(
                conn,
                t.attempts,
                [
                    {
                        **_attempt_row(campaign.org_id, d.contact, d.attempt),
                        "lease_expires_at": d.dial_at + lease,
                    }
                    for d in writes.dials
                ],
            )
            _update_rows(
                conn,
                k,
                [
                    {
                        "id": d.contact.id,
                        "state": ContactState.DIALING.value,
                        "next_due_at": None,
                        "attempts": d.contact.attempts,
                        "reason": None,
                        "updated_at": now,
                    }
                    for d in writes.dials
                ],
                only_if=("state", ContactState.WAITING.value),
            )
        for connection_id, line in writes.lines.items():
            lines = t.connections
            conn.execute(
                lines.update()
                .where(lines.c.org_id == campaign.org_id, lines.c.id == connection_id)
                .values(next_slot_at=line.next_slot_at, in_flight=line.in_flight)
            )
        _update_rows(
            conn,
            k,
            [
                {
                    "id": x.id,
                    "state": x.state.value,
                    "next_due_at": x.next_due_at,
                    "reason": x.reason,
                    "updated_at": now,
                }
                for x in writes.deferred
            ],
            only_if=("state", ContactState.WAITING.value),
        )

    def end_attempt(
        self,
        result: CallResult,
        finish: Finish,
    ) -> tuple[Contact, Attempt] | None:
        """Record a call's end and its contact's next state; None if it was already recorded."""
        return self.end_attempts([(result, finish)])[0]

    def end_attempts(
        self, ends: Sequence[tuple[CallResult, Finish]]
    ) -> list[tuple[Contact, Attempt] | None]:
        """Record many calls' ends in one transaction (the dispatcher's group commit).

        Each end gives what ``end_attempt`` would have, in order: None for an attempt
        that is unknown or already ended (a repeated report: the first one counted).
        The rows are read a table at a time and written with one statement per table,
        so a batch costs a handful of round trips instead of seven per call.
        """
        a, k, c = t.attempts, t.contacts, t.campaigns
        if not ends:
            return []
        with self._tx() as conn:
            ids = sorted({r.attempt_id for r, _ in ends})
            query = sa.select(a).where(_among(conn, a.c.id, ids)).order_by(a.c.id)
            if conn.dialect.name == "postgresql":
                # locked in id order, so two workers ending overlapping batches cannot deadlock
                query = query.with_for_update()
            live = {r.id: _attempt(r) for r in conn.execute(query).all() if r.state == "dialing"}
            if not live:
                return [None] * len(ends)
            contact_ids = sorted({x.contact_id for x in live.values()})
            contacts = {
                x.id: x
                for x in map(
                    _contact,
                    conn.execute(sa.select(k).where(_among(conn, k.c.id, contact_ids))).all(),
                )
            }
            # the retry policy reads each contact's earlier attempts; a first one has none
            called_before = sorted({x.contact_id for x in live.values() if x.number > 0})
            earlier: dict[str, list[Attempt]] = {}
            if called_before:
                for row in conn.execute(
                    sa.select(a)
                    .where(_among(conn, a.c.contact_id, called_before), a.c.state == "ended")
                    .order_by(a.c.contact_id, a.c.number)
                ).all():
                    earlier.setdefault(row.contact_id, []).append(_attempt(row))
            campaigns = {
                x.id: x
                for x in map(
                    _campaign,
                    conn.execute(
                        sa.select(c).where(c.c.id.in_({x.campaign_id for x in live.values()}))
                    ).all(),
                )
            }
            org_hooks = dict(
                conn.execute(
                    sa.select(t.organizations.c.id, t.organizations.c.webhook_url).where(
                        t.organizations.c.id.in_({x.org_id for x in campaigns.values()})
                    )
                ).all()
            )
            out: list[tuple[Contact, Attempt] | None] = []
            written: list[tuple[Contact, Attempt, dict[str, Any]]] = []
            for result, finish in ends:
                attempt = live.pop(result.attempt_id, None)  # a second report in the batch: None
                if attempt is None:
                    out.append(None)
                    continue
                campaign = campaigns[attempt.campaign_id]
                history = [
                    x for x in earlier.get(attempt.contact_id, ()) if x.number < attempt.number
                ]
                new_contact, ended = finish(
                    campaign.config.status,
                    campaign.config,
                    contacts[attempt.contact_id],
                    history,
                    attempt,
                )
                out.append((new_contact, ended))
                extra = {
                    "transcript": list(result.transcript) or None,
                    "summary": result.summary,
                    "extracted": dict(result.extracted) or None,
                }
                written.append((new_contact, ended, extra))
            _write_ends(conn, written)
            for new_contact, ended, _ in written:
                campaign = campaigns[ended.campaign_id]
                _record_what_the_person_said(conn, campaign.org_id, new_contact.phone, ended)
            self._queue_call_events(
                conn, [(campaigns[e.campaign_id], e) for _, e, _ in written], org_hooks
            )
            # The rows planners lock come last, to be held for the shortest time, and in
            # the order a planning step takes them (its campaign, then its connections),
            # so that the two can never wait for each other.
            _free_places(conn, written, campaigns)
            _release_lines(
                conn, [(campaigns[e.campaign_id].org_id, e.connection_id) for _, e, _ in written]
            )
            return out

    def withdraw_attempt(self, attempt_id: str, until: datetime, reason: str) -> bool:
        """Take back an attempt recorded but never dialled (the pre-dial hook said not now).

        The row goes (no call was placed, so it counts towards no cap and no retry
        budget), and the contact waits again until ``until`` with ``reason``.
        """
        a, k, c = t.attempts, t.contacts, t.campaigns
        with self._tx() as conn:
            query = sa.select(a).where(a.c.id == attempt_id)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None or row.state != "dialing":
                return False
            campaign = _campaign(conn.execute(sa.select(c).where(c.c.id == row.campaign_id)).one())
            cancelled = campaign.config.status is CampaignStatus.CANCELLED
            # the calls-per-day unit it was given is handed back with it
            dial_day = campaign.config.pacing.local_day(row.dialed_at or row.due_at)
            conn.execute(a.delete().where(a.c.id == attempt_id))
            conn.execute(
                k.update()
                .where(k.c.id == row.contact_id)
                .values(
                    state=(ContactState.CANCELLED if cancelled else ContactState.WAITING).value,
                    attempts=row.number,
                    next_due_at=None if cancelled else until,
                    reason=reason,
                    updated_at=until,
                )
            )
            greatest = sa.func.max if conn.dialect.name == "sqlite" else sa.func.greatest
            conn.execute(
                c.update()
                .where(c.c.id == row.campaign_id)
                .values(
                    in_flight=greatest(c.c.in_flight - 1, 0),
                    dialed_today=sa.case(
                        (c.c.day == dial_day, greatest(c.c.dialed_today - 1, 0)),
                        else_=c.c.dialed_today,
                    ),
                    next_wake_at=sa.case(
                        (c.c.next_wake_at.is_(None), until),
                        (c.c.next_wake_at > until, until),
                        else_=c.c.next_wake_at,
                    ),
                )
            )
            _release_lines(conn, [(row.org_id, row.connection_id)])  # after the campaign's row
        return True

    def expired_attempts(self, now: datetime, limit: int) -> list[str]:
        """Attempts still dialling past their lease: their worker died or lost the outcome."""
        a = t.attempts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(a.c.id)
                .where(a.c.state == "dialing", a.c.lease_expires_at < now)
                .order_by(a.c.lease_expires_at)
                .limit(limit)
            ).all()
        return [r.id for r in rows]

    def backlog(self, now: datetime) -> dict[str, int]:
        """Operator figures: due contacts, calls in flight, webhook deliveries pending."""
        k, a, o = t.contacts, t.attempts, t.webhook_outbox
        with self.engine.connect() as conn:
            due = conn.execute(
                sa.select(sa.func.count()).where(
                    k.c.state == ContactState.WAITING.value, k.c.next_due_at <= now
                )
            ).scalar_one()
            live = conn.execute(
                sa.select(sa.func.count()).where(a.c.state == "dialing")
            ).scalar_one()
            pending = conn.execute(
                sa.select(sa.func.count()).where(o.c.status == "pending")
            ).scalar_one()
        return {"due_contacts": due, "in_flight_calls": live, "webhook_backlog": pending}

    # --- the webhook outbox ----------------------------------------------------------------
    def _queue(self, conn: sa.Connection, **row: Any) -> None:
        conn.execute(
            t.webhook_outbox.insert().values(
                id=str(uuid.uuid4()), status="pending", deliveries=0, **row
            )
        )

    def _queue_call_events(
        self,
        conn: sa.Connection,
        ended: Sequence[tuple[Campaign, Attempt]],
        org_hooks: dict[str, str | None],
    ) -> None:
        """Outbox rows for finished attempts, in the transaction that records them."""
        rows: list[dict[str, Any]] = []
        for campaign, attempt in ended:
            at = attempt.ended_at
            common = {
                "status": "pending",
                "deliveries": 0,
                "org_id": campaign.org_id,
                "campaign_id": campaign.id,
                "attempt_id": attempt.id,
                "payload": {},
                "next_attempt_at": at,
                "created_at": at,
            }
            hook = campaign.extra.get("webhook_config") or {}
            if hook.get("url"):
                rows.append(
                    {
                        **common,
                        "id": str(uuid.uuid4()),
                        "kind": "sarvam_attempt",
                        "event_type": "attempt.ended",
                        "url": hook["url"],
                    }
                )
            org_url = org_hooks.get(campaign.org_id)
            if org_url:
                event = "call.completed" if attempt.outcome.connected else "call.failed"
                rows.append(
                    {
                        **common,
                        "id": str(uuid.uuid4()),
                        "kind": "volubile_call",
                        "event_type": event,
                        "url": org_url,
                    }
                )
        if rows:
            conn.execute(t.webhook_outbox.insert(), rows)

    def _queue_lifecycle(
        self,
        conn: sa.Connection,
        campaign: Campaign,
        status: CampaignStatus,
        event: str,
        at: datetime,
    ) -> None:
        hook = campaign.extra.get("webhook_config") or {}
        url = (
            hook.get("url")
            or conn.execute(
                sa.select(t.organizations.c.webhook_url).where(
                    t.organizations.c.id == campaign.org_id
                )
            ).scalar_one_or_none()
        )
        if not url:
            return
        payload = {
            "type": event,
            "campaign_id": campaign.id,
            "name": campaign.name,
            "status": status.value,
            "occurred_at": at.isoformat(),
        }
        self._queue(
            conn,
            org_id=campaign.org_id,
            campaign_id=campaign.id,
            attempt_id=None,
            kind="lifecycle",
            event_type=event,
            url=url,
            payload=payload,
            next_attempt_at=at,
            created_at=at,
        )

    def claim_webhooks(self, now: datetime, limit: int, lease: timedelta) -> list[PendingDelivery]:
        """Pending deliveries that are due, hidden from other workers for ``lease``."""
        o = t.webhook_outbox
        with self._tx() as conn:
            query = (
                sa.select(o)
                .where(o.c.status == "pending", o.c.next_attempt_at <= now)
                .order_by(o.c.next_attempt_at)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = [_pending_delivery(r) for r in conn.execute(query).all()]
            if claimed:
                conn.execute(
                    o.update()
                    .where(o.c.id.in_([d.id for d in claimed]))
                    .values(next_attempt_at=now + lease)
                )
        return claimed

    def record_delivery(
        self,
        outbox_id: str,
        *,
        status: str,
        code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None:
        o = t.webhook_outbox
        with self._tx() as conn:
            conn.execute(
                o.update()
                .where(o.c.id == outbox_id)
                .values(
                    status=status,
                    deliveries=o.c.deliveries + 1,
                    last_status_code=code,
                    last_error=error,
                    next_attempt_at=next_attempt_at,
                    delivered_at=at if status == "delivered" else None,
                )
            )

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str:
        """The organization's webhook signing secret, made on first use."""
        o = t.organizations
        with self._tx() as conn:
            current = conn.execute(
                sa.select(o.c.signing_secret).where(o.c.id == org_id)
            ).scalar_one()
            if current:
                return str(current)
            secret = make()
            conn.execute(o.update().where(o.c.id == org_id).values(signing_secret=secret))
            return secret

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease; False while someone else holds it."""
        lease = t.dispatcher_leases
        with self._tx() as conn:
            row = conn.execute(sa.select(lease).where(lease.c.name == name)).first()
            if row is None:
                conn.execute(lease.insert().values(name=name, holder=holder, expires_at=now + ttl))
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            conn.execute(
                lease.update()
                .where(lease.c.name == name)
                .values(holder=holder, expires_at=now + ttl)
            )
            return True

    # --- calls, as the API surfaces read them -------------------------------------------
    def get_call(self, attempt_id: str) -> CallRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_call_query().where(t.attempts.c.id == attempt_id)).first()
        return None if row is None else _call(row)

    def list_calls(
        self, where: CallFilter, offset: int, limit: int
    ) -> tuple[list[CallRecord], int]:
        a, c = t.attempts, t.campaigns
        conditions: list[Any] = [a.c.org_id == where.org_id]
        if where.agent_id is not None:
            conditions.append(c.c.agent_id == where.agent_id)
        if where.phone is not None:
            conditions.append(a.c.phone == where.phone)
        if where.campaign_name is not None:
            conditions.append(c.c.name == where.campaign_name)
        if where.since is not None:
            conditions.append(a.c.created_at >= where.since)
        if where.until is not None:
            conditions.append(a.c.created_at < where.until)
        column = {
            "created": a.c.created_at,
            "duration": a.c.duration_s,
            "phone": a.c.phone,
            "status": a.c.outcome,
        }[where.sort_by]
        order = column.desc() if where.descending else column.asc()
        with self.engine.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count())
                .select_from(a.join(c, c.c.id == a.c.campaign_id))
                .where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                _call_query().where(*conditions).order_by(order, a.c.id).offset(offset).limit(limit)
            ).all()
        return [_call(r) for r in rows], total

    # --- what the API surfaces list -----------------------------------------------------
    def list_campaigns(
        self, where: CampaignQuery, offset: int, limit: int
    ) -> tuple[list[Campaign], int]:
        c = t.campaigns
        conditions: list[Any] = [c.c.workspace_id == where.workspace_id, _not_hidden()]
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
        return [_campaign(r) for r in rows], total

    def count_live_campaigns(self, workspace_id: str) -> int:
        c = t.campaigns
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(
                        c.c.workspace_id == workspace_id,
                        c.c.status.in_(["scheduled", "active"]),
                        _not_hidden(),
                    )
                ).scalar_one()
            )

    def phones_in_campaign(self, campaign_id: str, phones: Sequence[str]) -> set[str]:
        k = t.contacts
        if not phones:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(k.c.phone).where(
                    k.c.campaign_id == campaign_id, k.c.phone.in_(list(phones))
                )
            ).all()
        return {r.phone for r in rows}

    def add_cohort(self, cohort: Cohort) -> None:
        with self._tx() as conn:
            conn.execute(t.cohorts.insert().values(**_fields(cohort)))

    def get_cohort(self, cohort_id: str) -> Cohort | None:
        return self._one(t.cohorts, t.cohorts.c.id == cohort_id, _cohort)

    def list_cohorts(self, campaign_id: str) -> list[Cohort]:
        h = t.cohorts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(h).where(h.c.campaign_id == campaign_id).order_by(h.c.created_at, h.c.id)
            ).all()
        return [_cohort(r) for r in rows]

    def finish_cohort(self, cohort: Cohort) -> None:
        h = t.cohorts
        with self._tx() as conn:
            conn.execute(
                h.update()
                .where(h.c.id == cohort.id)
                .values(
                    status=cohort.status,
                    total_records=cohort.total_records,
                    valid_records=cohort.valid_records,
                    rejected_records=cohort.rejected_records,
                    failure_reason=cohort.failure_reason,
                    updated_at=cohort.updated_at,
                    updated_by=cohort.updated_by,
                )
            )

    def list_outbox(self, campaign_id: str, limit: int) -> list[OutboxEntry]:
        o = t.webhook_outbox
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(o)
                .where(o.c.campaign_id == campaign_id)
                .order_by(o.c.created_at.desc(), o.c.id)
                .limit(limit)
            ).all()
        return [
            OutboxEntry(
                r.id,
                r.campaign_id,
                r.attempt_id,
                r.event_type,
                r.status,
                r.deliveries,
                r.last_status_code,
                r.created_at,
                r.delivered_at,
            )
            for r in rows
        ]

    def requeue_outbox(self, campaign_id: str, attempt_ids: Sequence[str], at: datetime) -> int:
        o = t.webhook_outbox
        if not attempt_ids:
            return 0
        with self._tx() as conn:
            # A delivery still pending is already on its way; only settled ones go again.
            done = conn.execute(
                o.update()
                .where(
                    o.c.campaign_id == campaign_id,
                    o.c.attempt_id.in_(list(attempt_ids)),
                    o.c.status != "pending",
                )
                .values(status="pending", next_attempt_at=at)
            )
            return done.rowcount

    # --- helpers ----------------------------------------------------------------------
    def _one(self, table: sa.Table, where: Any, make: Callable[[sa.Row[Any]], _T]) -> _T | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(where)).first()
        return None if row is None else make(row)


def _fields(obj: Any) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}


def _api_key(row: sa.Row[Any]) -> ApiKey:
    return ApiKey(**row._mapping)


def _org(row: sa.Row[Any]) -> Organization:
    return Organization(
        row.id,
        row.name,
        row.created_at,
        row.disabled,
        row.webhook_url,
        row.webhook_secret,
        row.calling_policy,
    )


def _do_not_call(row: sa.Row[Any]) -> DoNotCall:
    return DoNotCall(row.phone, row.source, row.created_at)


def _workspace(row: sa.Row[Any]) -> Workspace:
    return Workspace(row.id, row.org_id, row.name, row.is_default, row.created_at)


def _agent_query() -> sa.Select[Any]:
    a, v = t.agents, t.agent_versions
    newer = v.alias("newer")
    latest = (
        sa.select(sa.func.max(newer.c.version))
        .where(newer.c.agent_id == a.c.id)
        .correlate(a)
        .scalar_subquery()
    )
    return sa.select(a, v.c.version, v.c.prompt_template, v.c.variables).select_from(
        a.join(v, sa.and_(v.c.agent_id == a.c.id, v.c.version == latest))
    )


def _agent(row: sa.Row[Any]) -> Agent:
    return Agent(
        id=row.id,
        org_id=row.org_id,
        name=row.name,
        type=AgentType(row.type),
        created_at=row.created_at,
        version=row.version,
        prompt_template=row.prompt_template,
        variables=tuple(row.variables),
        active=row.active,
        recordable=row.recordable,
        archived=row.archived,
    )


def _campaign(row: sa.Row[Any]) -> Campaign:
    return Campaign(
        config=config_from_json(row.id, row.status, row.config, row.starts_at, row.ends_at),
        org_id=row.org_id,
        workspace_id=row.workspace_id,
        name=row.name,
        agent_id=row.agent_id,
        dialect=Dialect(row.dialect),
        created_at=row.created_at,
        updated_at=row.updated_at,
        description=row.description,
        agent_version=row.agent_version,
        extra=row.extra,
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def _counters(row: sa.Row[Any]) -> PacingCounters:
    return PacingCounters(
        in_flight=row.in_flight,
        next_slot_at=row.next_slot_at,
        day=row.day,
        dialed_today=row.dialed_today,
    )


def _contact(row: sa.Row[Any]) -> Contact:
    return Contact(
        id=row.id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        state=ContactState(row.state),
        next_due_at=row.next_due_at,
        attempts=row.attempts,
        context=row.context,
        reason=row.reason,
        user_identifier=row.user_identifier,
        cohort_id=row.cohort_id,
        zone=row.timezone,
    )


def _attempt_row(org_id: str, contact: Contact, a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "contact_id": a.contact_id,
        "campaign_id": a.campaign_id,
        "org_id": org_id,
        "phone": contact.phone,
        "number": a.number,
        "state": "dialing",
        "outcome": a.outcome.value,
        "due_at": a.due_at,
        "dialed_at": a.dialed_at,
        "qualifiers": [],
        "connection_id": a.connection_id,
        "caller_number": a.caller_number,
        "variables": dict(a.variables),
        "dropped_variables": list(a.dropped_variables),
        "created_at": a.dialed_at or a.due_at,
    }


def _dialed_at(dials: Sequence[tuple[Contact, Attempt]]) -> datetime:
    return max((a.dialed_at or a.due_at) for _, a in dials)


def _due_contacts(
    conn: sa.Connection, campaign_id: str, by: datetime, limit: int
) -> tuple[list[Contact], datetime | None]:
    """Up to ``limit`` waiting contacts due by ``by``, in due order, and when the next one is.

    Walks ``ix_contacts_due`` from its start, so the cost follows the due contacts.
    """
    k = t.contacts
    waiting = (k.c.campaign_id == campaign_id, k.c.state == ContactState.WAITING.value)
    rows = conn.execute(
        sa.select(k)
        .where(*waiting, k.c.next_due_at <= by)
        .order_by(k.c.next_due_at, k.c.id)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        return [_contact(r) for r in rows[:limit]], rows[limit].next_due_at
    later = conn.execute(
        sa.select(sa.func.min(k.c.next_due_at)).where(*waiting, k.c.next_due_at > by)
    ).scalar_one_or_none()
    return [_contact(r) for r in rows], later


def _lines(conn: sa.Connection, campaign: Campaign) -> dict[str, Line]:
    """The registered connections the campaign routes to, locked until the step commits.

    The lock is what makes a connection's limits hold across campaigns and workers: a
    second campaign planning on the same connection waits for this step's counters.
    Rows are locked in id order, so two steps can never wait for each other.
    """
    wanted = sorted({r.connection_id for r in campaign.config.routes})
    if not wanted:
        return {}
    k = t.connections
    query = sa.select(k).where(k.c.org_id == campaign.org_id, k.c.id.in_(wanted)).order_by(k.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.id: _line(row) for row in conn.execute(query).all()}


def _line(row: sa.Row[Any]) -> Line:
    return Line(
        limits=PacingLimits(
            attempts_per_second=row.max_attempts_per_second, max_concurrent=row.max_concurrent
        ),
        counters=PacingCounters(in_flight=row.in_flight, next_slot_at=row.next_slot_at),
        caller_numbers=tuple(row.caller_numbers or ()),
    )


def _connection(row: sa.Row[Any]) -> Connection:
    return Connection(
        org_id=row.org_id,
        id=row.id,
        name=row.name,
        gateway=row.gateway_kind,
        settings=row.settings or {},
        caller_numbers=tuple(row.caller_numbers or ()),
        max_attempts_per_second=row.max_attempts_per_second,
        max_concurrent=row.max_concurrent,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _release_lines(conn: sa.Connection, ended: Sequence[tuple[str, str | None]]) -> None:
    """Give back a place on each (organization, connection) whose call ended."""
    freed: dict[tuple[str, str], int] = {}
    for org_id, connection_id in ended:
        if connection_id is not None:
            freed[(org_id, connection_id)] = freed.get((org_id, connection_id), 0) + 1
    k = t.connections
    greatest = sa.func.max if conn.dialect.name == "sqlite" else sa.func.greatest
    for (org_id, connection_id), n in sorted(freed.items()):
        conn.execute(
            k.update()
            .where(k.c.org_id == org_id, k.c.id == connection_id)
            .values(in_flight=greatest(k.c.in_flight - n, 0))
        )


def _phone_facts(
    conn: sa.Connection, org_id: str, phones: Sequence[str], policy: CallingPolicy, now: datetime
) -> dict[str, PhoneFacts]:
    """What the organization's records say about ``phones``, for the checks at dial time."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    dnc, a, r = t.do_not_call, t.attempts, t.refusals
    listed = set(
        conn.execute(
            sa.select(dnc.c.phone).where(dnc.c.org_id == org_id, _among(conn, dnc.c.phone, wanted))
        ).scalars()
    )
    dials: dict[str, list[datetime]] = {}
    if policy.max_attempts is not None:
        # The period may end up to a planning horizon later; an older dial never counts.
        for phone, at in conn.execute(
            sa.select(a.c.phone, a.c.dialed_at).where(
                a.c.org_id == org_id,
                _among(conn, a.c.phone, wanted),
                a.c.dialed_at > now - policy.period,
            )
        ):
            dials.setdefault(phone, []).append(at)
    refused: dict[str, datetime] = {}
    if policy.refusal_cooldown is not None:
        for phone, at in conn.execute(
            sa.select(r.c.phone, sa.func.max(r.c.refused_at))
            .where(r.c.org_id == org_id, _among(conn, r.c.phone, wanted))
            .group_by(r.c.phone)
        ):
            refused[phone] = at
    return {
        p: PhoneFacts(tuple(dials.get(p, ())), refused.get(p), p in listed)
        for p in wanted
        if p in listed or p in dials or p in refused
    }


def _record_what_the_person_said(
    conn: sa.Connection, org_id: str, phone: str, ended: Attempt
) -> None:
    """A refusal starts the cooldown; an opt-out puts the number on the do-not-call list."""
    if compliance.counts_as_refusal(ended.qualifiers) and ended.ended_at is not None:
        conn.execute(
            t.refusals.insert().values(
                attempt_id=ended.id, org_id=org_id, phone=phone, refused_at=ended.ended_at
            )
        )
    if compliance.counts_as_opt_out(ended.qualifiers) and ended.ended_at is not None:
        _add_to_do_not_call(conn, org_id, [phone], "opt_out", ended.ended_at)


def _add_to_do_not_call(
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
        insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(dnc)
        conn.execute(
            insert.on_conflict_do_nothing(),
            [{"org_id": org_id, "phone": p, "source": source, "created_at": now} for p in fresh],
        )
    return len(fresh)


def _among(conn: sa.Connection, column: sa.Column[Any], values: Iterable[str]) -> Any:
    """``column IN values`` for the hot paths' long lists (hundreds of ids or numbers).

    PostgreSQL takes them as one array parameter (``= ANY(:array)``): the statement is the
    same whatever the list's length, so it is neither compiled nor planned again for
    each batch. Elsewhere, a plain IN.
    """
    wanted = list(values)
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, wanted, type_=ARRAY(sa.String)))
    return column.in_(wanted)


def _update_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: str = "id",
    only_if: tuple[str, str] | None = None,
) -> None:
    """Update many rows, each matched by ``key``, to the values in its dict; with
    ``only_if`` (a text column and a value), only the rows that hold that value.

    On PostgreSQL this is one statement, ``UPDATE .. FROM unnest(arrays)``: one array per
    column, planned once, instead of one statement per row (the dispatcher's batches of
    ends and dials are hundreds of rows). Elsewhere, one statement run for each row.
    """
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    guard = [] if only_if is None else [table.c[only_if[0]] == only_if[1]]
    if conn.dialect.name != "postgresql":
        conn.execute(
            table.update()
            .where(table.c[key] == sa.bindparam(f"b_{key}"), *guard)
            .values({c: sa.bindparam(f"b_{c}") for c in columns}),
            [{f"b_{c}": v for c, v in row.items()} for row in rows],
        )
        return
    unnest, arrays, values = _unnest(table, [key, *columns], rows)
    assignments = [f"{c} = {v}" for c, v in zip(columns, values[1:], strict=True)]
    conn.execute(
        sa.text(
            f"UPDATE {table.name} AS t SET {', '.join(assignments)} "  # noqa: S608
            f"FROM {unnest} WHERE t.{key} = v.{key}"
            + ("" if only_if is None else f" AND t.{table.c[only_if[0]].name} = :only_if")
        ),
        arrays if only_if is None else {**arrays, "only_if": only_if[1]},
    )


def _insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows; on PostgreSQL as one ``INSERT .. SELECT FROM unnest(arrays)``
    (see ``_update_rows``; psycopg would otherwise send one INSERT per row), elsewhere
    as SQLAlchemy's executemany."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    unnest, arrays, values = _unnest(table, columns, rows)
    conn.execute(
        sa.text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {unnest}"
        ),
        arrays,
    )


def _unnest(
    table: sa.Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> tuple[str, dict[str, list[Any]], list[str]]:
    """For PostgreSQL: ``unnest(...) AS v(columns)`` over one bound array per column,
    those arrays, and each column's value as stored (``v.col``, cast where needed).

    Every name in the SQL is one of ``table``'s own columns (``table.c[c]`` refuses any
    other); every value travels as a bound array.
    """
    arrays: dict[str, list[Any]] = {}
    sources, values = [], []
    for c in columns:
        element, convert, stored_as = _pg_array(table.c[c].type)
        arrays[f"p_{c}"] = [convert(row[c]) for row in rows]
        sources.append(f"CAST(:p_{c} AS {element}[])")
        values.append(f"v.{c}{stored_as}")
    return f"unnest({', '.join(sources)}) AS v({', '.join(columns)})", arrays, values


def _pg_array(kind: Any) -> tuple[str, Callable[[Any], Any], str]:
    """For a column type: the PostgreSQL array element to send its values in, how to
    convert one value for it, and the cast that stores an element in the column."""
    if isinstance(kind, UTCDateTime):
        return "timestamptz", lambda v: None if v is None else v.astimezone(UTC), ""
    if isinstance(kind, sa.Float):
        return "float8", lambda v: v, ""
    if isinstance(kind, sa.Integer):
        return "int8", lambda v: v, ""
    if isinstance(kind, sa.JSON):  # JSONB on PostgreSQL, sent as text
        return "text", lambda v: None if v is None else json.dumps(v), "::jsonb"
    return "text", lambda v: v, ""


def _write_ends(
    conn: sa.Connection,
    ends: Sequence[tuple[Contact, Attempt, dict[str, Any]]],
) -> None:
    """Attempts' ends (with ``extra`` columns: what the person said) and their contacts'
    next states."""
    if not ends:
        return
    a, k = t.attempts, t.contacts
    _update_rows(
        conn,
        a,
        [
            {
                "id": ended.id,
                **dict.fromkeys(_ENDED_COLUMNS),
                **_ended_values(ended),
                **extra,
            }
            for _, ended, extra in ends
        ],
    )
    _update_rows(
        conn,
        k,
        [
            {
                "id": contact.id,
                "state": contact.state.value,
                "next_due_at": contact.next_due_at,
                "reason": contact.reason,
                "updated_at": ended.ended_at,
            }
            for contact, ended, _ in ends
        ],
    )


def _free_places(
    conn: sa.Connection,
    ends: Sequence[tuple[Contact, Attempt, dict[str, Any]]],
    campaigns: dict[str, Campaign],
) -> None:
    """The campaigns' counters once these calls ended, and when each should look again.

    Written last in its transaction: a planning step that finds a campaign's row locked
    skips the campaign for that pass, so the row is held for as short a time as can be.
    """
    c = t.campaigns
    by_campaign: dict[str, list[tuple[Contact, Attempt]]] = {}
    for contact, ended, _ in ends:
        by_campaign.setdefault(ended.campaign_id, []).append((contact, ended))
    greatest = sa.func.max if conn.dialect.name == "sqlite" else sa.func.greatest
    wake_type = c.c.next_wake_at.type
    for campaign_id in sorted(by_campaign):
        done = by_campaign[campaign_id]
        max_concurrent = campaigns[campaign_id].config.pacing.max_concurrent
        # The campaign must look again when these ends change what it may do: at once if
        # the first of them held the last free place (a full campaign plans no wake of its
        # own for that), and by the contacts' retries. Any other end changes nothing the
        # planner waits for; waking for it would only cost a plan. Decided inside the
        # UPDATE, against the in_flight value the row holds when it is written: the same
        # answer as writing the ends one by one in this order.
        retries = [x.next_due_at for x, _ in done if x.state is ContactState.WAITING]
        soonest = min((r for r in retries if r is not None), default=None)
        wake: Any = sa.literal(soonest, wake_type) if soonest is not None else sa.null()
        first_end = done[0][1].ended_at
        if max_concurrent is not None and first_end is not None:
            freed = first_end if soonest is None else min(first_end, soonest)
            wake = sa.case(
                (c.c.in_flight >= max_concurrent, sa.literal(freed, wake_type)), else_=wake
            )
        conn.execute(
            c.update()
            .where(c.c.id == campaign_id)
            .values(
                in_flight=greatest(c.c.in_flight - len(done), 0),
                next_wake_at=sa.case(
                    (wake.is_(None), c.c.next_wake_at),
                    (c.c.next_wake_at.is_(None), wake),
                    (wake < c.c.next_wake_at, wake),
                    else_=c.c.next_wake_at,
                ),
            )
        )


_ENDED_COLUMNS = (
    "state",
    "outcome",
    "answered_at",
    "ended_at",
    "duration_s",
    "qualifiers",
    "retry_rule",
    "gateway_call_id",
    "failure_reason",
    "transcript",
    "summary",
    "extracted",
)


def _ended_values(a: Attempt) -> dict[str, Any]:
    """The columns an attempt's end writes."""
    return {
        "state": "ended",
        "outcome": a.outcome.value,
        "answered_at": a.answered_at,
        "ended_at": a.ended_at,
        "duration_s": None if a.duration is None else a.duration.total_seconds(),
        "qualifiers": sorted(a.qualifiers),
        "retry_rule": a.retry_rule,
        "gateway_call_id": a.gateway_call_id,
        "failure_reason": a.failure_reason,
    }


def _attempt(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        number=row.number,
        due_at=row.due_at,
        dialed_at=row.dialed_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        outcome=Outcome(row.outcome),
        duration=None if row.duration_s is None else timedelta(seconds=row.duration_s),
        qualifiers=frozenset(row.qualifiers),
        retry_rule=row.retry_rule,
        connection_id=row.connection_id,
        caller_number=row.caller_number,
        gateway_call_id=row.gateway_call_id,
        failure_reason=row.failure_reason,
        variables=row.variables or {},
        dropped_variables=tuple(row.dropped_variables or ()),
    )


def _call_query() -> sa.Select[Any]:
    a, c, k = t.attempts, t.campaigns, t.contacts
    return sa.select(
        a,
        c.c.agent_id.label("agent_id"),
        c.c.name.label("campaign_name"),
        k.c.context.label("contact_context"),
    ).select_from(a.join(c, c.c.id == a.c.campaign_id).join(k, k.c.id == a.c.contact_id))


def _call(row: sa.Row[Any]) -> CallRecord:
    return CallRecord(
        attempt=_attempt(row),
        org_id=row.org_id,
        agent_id=row.agent_id,
        campaign_name=row.campaign_name,
        phone=row.phone,
        context=row.contact_context,
        created_at=row.created_at,
        transcript=tuple(row.transcript or ()),
        summary=row.summary,
        extracted=row.extracted or {},
    )


def _not_hidden() -> Any:
    return t.campaigns.c.extra[HIDDEN_MARKER].as_string().is_(None)


def _pending_delivery(row: sa.Row[Any]) -> PendingDelivery:
    return PendingDelivery(
        id=row.id,
        org_id=row.org_id,
        campaign_id=row.campaign_id,
        attempt_id=row.attempt_id,
        kind=row.kind,
        event_type=row.event_type,
        url=row.url,
        payload=row.payload,
        deliveries=row.deliveries,
    )


def _cohort(row: sa.Row[Any]) -> Cohort:
    return Cohort(**row._mapping)
