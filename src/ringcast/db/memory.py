"""``MemoryStore``: the in-memory twin of ``SqlStore``, for the forecast and unit tests.

It keeps the same promises as the SQL store (the contract tests run on both): the same
uniqueness rules, the same due order, all-or-nothing writes. What to write is decided
by the same core rules the SQL store applies (``core.step``, ``core.contacts``,
``core.compliance``, ``core.states``); only where the values live differs. It keeps no
webhook outbox: the forecast and the unit tests send none. Nothing it holds is at rest,
so its secrets are kept as they are (the SQL store seals them).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from operator import attrgetter

from ringcast.core import compliance
from ringcast.core import contacts as lifecycle
from ringcast.core.callers import CallerUsage
from ringcast.core.compliance import POLICIES, CallingPolicy, PhoneFacts
from ringcast.core.errors import Conflict, NotFound
from ringcast.core.lines import Line
from ringcast.core.model import Attempt, Contact, ContactState, evolve
from ringcast.core.pacing import PacingCounters, PacingLimits
from ringcast.core.planner import CampaignSnapshot, contacts_wanted
from ringcast.core.states import LIVE_STATUSES, CampaignStatus
from ringcast.core.step import CALL_LEASE, CallResult, Dial, Finish, TickWrites
from ringcast.db.due import DueQueue
from ringcast.db.memory_connections import MemoryConnections
from ringcast.ports import Decide, End
from ringcast.records import (
    HIDDEN_MARKER,
    Agent,
    ApiKey,
    Campaign,
    Connection,
    DoNotCall,
    Organization,
    Workspace,
    caller_caps,
)

_NUMBER = attrgetter("number")


class MemoryStore(MemoryConnections):
    def __init__(self) -> None:
        self.organizations: dict[str, Organization] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.api_keys: dict[str, ApiKey] = {}
        self.agents: dict[str, Agent] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.counters: dict[str, PacingCounters] = {}
        self.contacts: dict[str, Contact] = {}
        self.attempts: dict[str, Attempt] = {}
        self._attempts_by_contact: dict[str, list[str]] = defaultdict(list)
        self._live_phones: dict[tuple[str, str], str] = {}  # (org, phone) -> attempt id
        #: per campaign, waiting contacts as (next_due_at, id), in due order, ties by id
        #: (the SQL store's index)
        self._due: dict[str, DueQueue] = defaultdict(DueQueue)
        #: per campaign, when a dispatcher should plan it next
        self.wake: dict[str, datetime | None] = {}
        #: per attempt still dialling, when it is taken for lost
        self.leases: dict[str, datetime] = {}
        #: compliance records, by (organization, phone)
        self.do_not_call: dict[tuple[str, str], DoNotCall] = {}
        self.refusals: dict[tuple[str, str], datetime] = {}  #: the latest refusal
        self._dials_by_phone: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        #: registered connections and their shared counters, by (organization, id)
        self.connections: dict[tuple[str, str], Connection] = {}
        self.line_counters: dict[tuple[str, str], PacingCounters] = {}
        #: what each caller number of a connection dialled in its latest hour and day, by
        #: (organization, connection id), then number (the SQL store's caller_number_usage)
        self.caller_usage: dict[tuple[str, str], dict[str, CallerUsage]] = {}
        self.secrets: dict[str, str] = {}  #: webhook signing secrets, by organization
        self.dispatcher_leases: dict[str, tuple[str, datetime]] = {}  #: name -> holder, until

    # --- accounts ---------------------------------------------------------------
    def ensure_organization(self, org_id: str, name: str, now: datetime) -> Organization:
        for org in self.organizations.values():
            if org.name == name:
                return org
        org = self.organizations[org_id] = Organization(org_id, name, now)
        return org

    def ensure_workspace(self, ws_id: str, org_id: str, name: str, now: datetime) -> Workspace:
        mine = [w for w in self.workspaces.values() if w.org_id == org_id]
        for w in mine:
            if w.name == name:
                return w
        ws = self.workspaces[ws_id] = Workspace(ws_id, org_id, name, not mine, now)
        return ws

    def get_organization(self, org_id: str) -> Organization | None:
        return self.organizations.get(org_id)

    def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self.workspaces.get(workspace_id)

    def default_workspace(self, org_id: str) -> Workspace | None:
        return next(
            (w for w in self.workspaces.values() if w.org_id == org_id and w.is_default), None
        )

    def add_api_key(self, key: ApiKey) -> None:
        if key.prefix in self.api_keys:
            raise Conflict(f"api key prefix {key.prefix} exists")
        self.api_keys[key.prefix] = key

    def find_api_key(self, prefix: str) -> ApiKey | None:
        return self.api_keys.get(prefix)

    def revoke_api_key(self, prefix: str, at: datetime) -> bool:
        key = self.api_keys.get(prefix)
        if key is None:
            return False
        if key.revoked_at is None:
            self.api_keys[prefix] = replace(key, revoked_at=at)
        return True

    def add_agent(self, agent: Agent) -> None:
        if agent.id in self.agents:
            raise Conflict(f"agent {agent.id} exists")
        self.agents[agent.id] = agent

    def get_agent(self, agent_id: str) -> Agent | None:
        return self.agents.get(agent_id)

    def list_agents(self, org_id: str, offset: int, limit: int) -> tuple[list[Agent], int]:
        mine = sorted(
            (a for a in self.agents.values() if a.org_id == org_id),
            key=lambda a: (a.created_at, a.id),
        )
        return mine[offset : offset + limit], len(mine)

    def update_agent(self, agent: Agent) -> None:
        if agent.id not in self.agents:
            raise NotFound("agent", agent.id)
        self.agents[agent.id] = agent

    def set_account_webhook(self, org_id: str, url: str | None, secret: str | None) -> None:
        org = self.organizations[org_id]
        self.organizations[org_id] = replace(org, webhook_url=url, webhook_secret=secret)

    # --- campaigns and contacts ---------------------------------------------------
    def create_campaign(self, campaign: Campaign, contacts: Sequence[Contact]) -> None:
        if campaign.id in self.campaigns:
            raise Conflict(f"campaign {campaign.id} exists")
        self._check_new_contacts(contacts)
        self.campaigns[campaign.id] = campaign
        self.counters[campaign.id] = PacingCounters()
        self.wake[campaign.id] = campaign.created_at
        self._insert_contacts(self._new_numbers(campaign.id, contacts))

    def get_campaign(self, campaign_id: str) -> Campaign | None:
        return self.campaigns.get(campaign_id)

    def ensure_direct_campaign(self, campaign: Campaign) -> Campaign:
        """The organization's hidden campaign for the agent ``campaign.extra`` names under
        ``HIDDEN_MARKER``: the one stored, else ``campaign``, stored now."""
        agent_id = campaign.extra.get(HIDDEN_MARKER)
        if not agent_id:
            raise ValueError(f"campaign {campaign.id} is not a direct-calls campaign")
        found = self.find_campaign_by_extra(campaign.org_id, HIDDEN_MARKER, str(agent_id))
        if found is not None:
            return found
        self.create_campaign(campaign, ())
        return campaign

    def find_campaign_by_extra(self, org_id: str, key: str, value: str) -> Campaign | None:
        found = [
            c for c in self.campaigns.values() if c.org_id == org_id and c.extra.get(key) == value
        ]
        return min(found, key=lambda c: (c.created_at, c.id)) if found else None

    def update_campaign(self, campaign: Campaign) -> None:
        old = self.campaigns.get(campaign.id)
        if old is None:
            raise NotFound("campaign", campaign.id)
        self.campaigns[campaign.id] = replace(
            campaign, config=replace(campaign.config, status=old.config.status)
        )

    def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, at: datetime, by: str | None = None
    ) -> None:
        c = self.campaigns[campaign_id]
        self.campaigns[campaign_id] = replace(
            c, config=replace(c.config, status=status), updated_at=at, updated_by=by or c.updated_by
        )
        self.wake[campaign_id] = at
        if status is CampaignStatus.CANCELLED:
            for k in self._waiting(campaign_id):
                self._put_contact(lifecycle.cancel(k))

    def add_contacts(
        self, campaign_id: str, contacts: Sequence[Contact], now: datetime
    ) -> list[Contact]:
        if campaign_id not in self.campaigns:
            raise NotFound("campaign", campaign_id)
        self._check_new_contacts(contacts)
        added = self._new_numbers(campaign_id, contacts)
        self._insert_contacts(added)
        self._wake_by(campaign_id, now)
        return added

    def _new_numbers(self, campaign_id: str, contacts: Sequence[Contact]) -> list[Contact]:
        """The contacts whose number the campaign lacks, each number once (as the SQL
        store's unique index keeps it); a hidden direct-calls campaign takes them all."""
        if HIDDEN_MARKER in self.campaigns[campaign_id].extra:
            return list(contacts)
        have = {k.phone for k in self.contacts.values() if k.campaign_id == campaign_id}
        added = []
        for k in contacts:
            if k.phone not in have:
                have.add(k.phone)
                added.append(k)
        return added

    def _check_new_contacts(self, contacts: Sequence[Contact]) -> None:
        ids = [k.id for k in contacts]
        if len(set(ids)) != len(ids) or any(i in self.contacts for i in ids):
            raise Conflict("contact id exists")

    def _insert_contacts(self, contacts: Sequence[Contact]) -> None:
        """Store new contacts (ids no contact has), queued in one go."""
        queued: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for k in contacts:
            self.contacts[k.id] = k
            if k.state is ContactState.WAITING and k.next_due_at is not None:
                queued[k.campaign_id].append((k.next_due_at, k.id))
        for campaign_id, entries in queued.items():
            self._due[campaign_id].extend(entries)

    def _put_contact(self, new: Contact) -> None:
        old = self.contacts.get(new.id)
        if old is not None and old.state is ContactState.WAITING and old.next_due_at is not None:
            self._due[old.campaign_id].remove(old.next_due_at, old.id)
        if new.state is ContactState.WAITING and new.next_due_at is not None:
            self._due[new.campaign_id].add(new.next_due_at, new.id)
        self.contacts[new.id] = new

    def _waiting(self, campaign_id: str) -> list[Contact]:
        return [
            k
            for k in self.contacts.values()
            if k.campaign_id == campaign_id and k.state is ContactState.WAITING
        ]

    def get_contact(self, contact_id: str) -> Contact | None:
        return self.contacts.get(contact_id)

    def count_contacts(self, campaign_id: str) -> dict[ContactState, int]:
        return dict(
            Counter(k.state for k in self.contacts.values() if k.campaign_id == campaign_id)
        )

    def attempts_of(self, contact_id: str) -> list[Attempt]:
        return sorted(
            (self.attempts[i] for i in self._attempts_by_contact[contact_id]),
            key=lambda a: a.number,
        )

    def campaign_contacts(self, campaign_id: str) -> list[Contact]:
        contacts = self.contacts
        if self.campaigns.keys() == {campaign_id}:  # a forecast's store: no filter needed
            return [contacts[i] for i in sorted(contacts)]
        return sorted(
            (k for k in contacts.values() if k.campaign_id == campaign_id), key=lambda k: k.id
        )

    def campaign_attempts(self, campaign_id: str) -> list[Attempt]:
        attempts = self.attempts
        if self.campaigns.keys() == {campaign_id}:
            return [attempts[i] for i in sorted(attempts)]
        return sorted(
            (a for a in attempts.values() if a.campaign_id == campaign_id), key=lambda a: a.id
        )

    def set_contact_zone(self, contact_id: str, zone: str | None, now: datetime) -> Contact | None:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return None
        changed = replace(contact, zone=zone)
        if contact.state is ContactState.WAITING and contact.next_due_at is None:
            changed = replace(changed, next_due_at=now, reason=None)
            self._wake_by(contact.campaign_id, now)
        self._put_contact(changed)
        return changed

    def restore_attempts(self, campaign: Campaign, attempts: Sequence[Attempt]) -> list[Attempt]:
        """Load a stored campaign's attempts (for a forecast); returns those still live."""
        live: list[Attempt] = []
        for a in sorted(attempts, key=lambda a: a.number):
            self.attempts[a.id] = a
            self._attempts_by_contact[a.contact_id].append(a.id)
            if a.ended_at is None:
                live.append(a)
                self._live_phones[(campaign.org_id, self.contacts[a.contact_id].phone)] = a.id
        return live

    def _lines(self, campaign: Campaign) -> dict[str, Line]:
        lines: dict[str, Line] = {}
        for route in campaign.config.routes:
            key = (campaign.org_id, route.connection_id)
            known = self.connections.get(key)
            if known is not None:
                caps = caller_caps(known.settings)
                lines[route.connection_id] = Line(
                    PacingLimits(
                        attempts_per_second=known.max_attempts_per_second,
                        max_concurrent=known.max_concurrent,
                    ),
                    self.line_counters[key],
                    known.caller_numbers,
                    caps,
                    dict(self.caller_usage.get(key, {})) if caps.any else {},
                )
        return lines

    def _release_line(self, org_id: str, connection_id: str | None) -> None:
        key = (org_id, connection_id or "")
        if key in self.line_counters:
            c = self.line_counters[key]
            self.line_counters[key] = replace(c, in_flight=max(c.in_flight - 1, 0))

    # --- compliance (see SqlStore) ---------------------------------------------------
    def load_phone_facts(self, org_id: str, facts: Mapping[str, PhoneFacts], now: datetime) -> None:
        """Take over what another store knows about these numbers (a forecast's start)."""
        for phone, f in facts.items():
            key = (org_id, phone)
            if f.do_not_call:
                self.do_not_call[key] = DoNotCall(phone, "copied", now)
            if f.last_refusal_at is not None:
                self.refusals[key] = f.last_refusal_at
            self._dials_by_phone[key] = sorted(f.recent_dials)

    def set_calling_policy(self, org_id: str, policy: str | None) -> None:
        self.organizations[org_id] = replace(self.organizations[org_id], calling_policy=policy)

    def add_do_not_call(
        self, org_id: str, phones: Sequence[str], source: str, now: datetime
    ) -> int:
        fresh = {p for p in phones if (org_id, p) not in self.do_not_call}
        for p in fresh:
            self.do_not_call[(org_id, p)] = DoNotCall(p, source, now)
        return len(fresh)

    def remove_do_not_call(self, org_id: str, phone: str) -> bool:
        return self.do_not_call.pop((org_id, phone), None) is not None

    def _policy(self, campaign: Campaign) -> CallingPolicy:
        org = self.organizations.get(campaign.org_id)
        return compliance.effective_policy(
            campaign.config.policy, org.calling_policy if org else None
        )

    def _phone_facts(
        self, org_id: str, due: Sequence[Contact], policy: CallingPolicy, now: datetime
    ) -> dict[str, PhoneFacts]:
        facts: dict[str, PhoneFacts] = {}
        for phone in {k.phone for k in due}:
            key = (org_id, phone)
            dials = (
                tuple(d for d in self._dials_by_phone.get(key, ()) if d > now - policy.period)
                if policy.max_attempts is not None
                else ()
            )
            refused = self.refusals.get(key) if policy.refusal_cooldown is not None else None
            listed = key in self.do_not_call
            if dials or refused or listed:
                facts[phone] = PhoneFacts(dials, refused, listed)
        return facts

    def _record_what_was_said(self, org_id: str, phone: str, ended: Attempt) -> None:
        if not ended.qualifiers:
            return  # a call without qualifiers says nothing (most calls)
        said = compliance.what_was_said(ended.qualifiers, ended.ended_at)
        key = (org_id, phone)
        if said.refused_at is not None:
            self.refusals[key] = max(said.refused_at, self.refusals.get(key, said.refused_at))
        if said.opted_out_at is not None:
            self.add_do_not_call(org_id, [phone], compliance.OPT_OUT_SOURCE, said.opted_out_at)

    # --- the dispatcher's transactions (see SqlStore's sql/planning.py, sql/ends.py) -----
    def earliest_wake(self) -> datetime | None:
        earliest: datetime | None = None
        for cid, at in self.wake.items():  # a loop: asked twice for every forecast attempt
            if (
                at is not None
                and (earliest is None or at < earliest)
                and self.campaigns[cid].config.status in LIVE_STATUSES
            ):
                earliest = at
        return earliest

    def _wake_by(self, campaign_id: str, at: datetime | None) -> None:
        self.wake[campaign_id] = lifecycle.earliest(self.wake.get(campaign_id), at)

    def campaigns_to_plan(self, now: datetime, limit: int) -> list[str]:
        due = [
            (at, cid)
            for cid, at in self.wake.items()
            if at is not None and at <= now and self.campaigns[cid].config.status in LIVE_STATUSES
        ]
        if len(due) > 1:
            due.sort()
        return [cid for _, cid in due[:limit]]

    def load_snapshot(
        self, campaign_id: str, now: datetime, horizon: timedelta, limit: int
    ) -> CampaignSnapshot | None:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return None
        ids, next_due_at = self._due[campaign_id].head(limit, now + horizon)
        due = [self.contacts[cid] for cid in ids]
        return CampaignSnapshot(campaign.config, self.counters[campaign_id], due, next_due_at)

    def run_tick(
        self,
        campaign_id: str,
        now: datetime,
        horizon: timedelta,
        limit: int,
        decide: Decide,
        lease: timedelta = CALL_LEASE,
    ) -> TickWrites | None:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            return None
        snapshot, held = self._tick_snapshot(campaign, now, horizon, limit)
        agent = self.agents.get(campaign.agent_id)
        writes = decide(snapshot, agent.variables if agent else ())
        self._check_dials(campaign.org_id, writes.dials)  # all or nothing, as a transaction
        for connection_id, line in writes.lines.items():
            self.line_counters[(campaign.org_id, connection_id)] = line
        for (connection_id, number), usage in writes.callers.items():
            self.caller_usage.setdefault((campaign.org_id, connection_id), {})[number] = usage
        waiting_held, self.wake[campaign_id] = lifecycle.hold_numbers_in_call(
            held, writes.next_wake_at, now
        )
        for k in waiting_held:
            self._put_contact(k)
        if writes.status is not None:
            c = self.campaigns[campaign_id]
            self.campaigns[campaign_id] = replace(c, config=replace(c.config, status=writes.status))
        self._record_dials(campaign.org_id, writes.dials)
        self.counters[campaign_id] = writes.counters or self.counters[campaign_id]
        for k in writes.deferred:
            self._put_contact(k)
        for d in writes.dials:
            self.leases[d.attempt.id] = d.dial_at + lease
        return evolve(
            writes,
            agent_id=campaign.agent_id,
            agent_version=campaign.agent_version,
            org_id=campaign.org_id,
        )

    def _tick_snapshot(
        self, campaign: Campaign, now: datetime, horizon: timedelta, limit: int
    ) -> tuple[CampaignSnapshot, list[Contact]]:
        """What a planning step reads (``load_snapshot``, with the policy, the phone facts
        and the connections in force), built once; and the due contacts held back because
        their number is in a call."""
        counters = self.counters[campaign.id]
        limit = contacts_wanted(campaign.config, counters, now, horizon, limit)
        ids, next_due_at = self._due[campaign.id].head(limit, now + horizon)
        contacts, live, org_id = self.contacts, self._live_phones, campaign.org_id
        due = [contacts[cid] for cid in ids]
        held = [k for k in due if (org_id, k.phone) in live] if live else []
        if held:
            due = [k for k in due if (org_id, k.phone) not in live]
        if not due:
            return CampaignSnapshot(campaign.config, counters, due, next_due_at), held
        policy = self._policy(campaign)
        facts = (
            self._phone_facts(org_id, due, policy, now)
            if policy is not POLICIES["none"] or self.do_not_call
            else {}
        )
        lines = self._lines(campaign) if self.connections else {}
        snapshot = CampaignSnapshot(
            campaign.config, counters, due, next_due_at, policy, facts, lines
        )
        return snapshot, held

    def _check_dials(self, org_id: str, dials: Sequence[Dial]) -> None:
        """Refuse, before anything is written, the dials the SQL store's unique keys would:
        an attempt number a contact already has, a number already in a call."""
        taken: set[tuple[str, str]] = set()
        attempts = self.attempts
        for d in dials:
            number = d.attempt.number
            if d.attempt.id in attempts or any(
                attempts[i].number == number for i in self._attempts_by_contact[d.contact.id]
            ):
                raise Conflict(f"attempt {number} of contact {d.contact.id} exists")
            key = (org_id, d.contact.phone)
            if key in taken or key in self._live_phones:
                raise Conflict(f"{d.contact.phone} is already in a call")
            taken.add(key)

    def _record_dials(self, org_id: str, dials: Sequence[Dial]) -> None:
        for d in dials:
            contact, attempt = d.contact, d.attempt
            self._live_phones[(org_id, contact.phone)] = attempt.id
            self.attempts[attempt.id] = attempt
            self._attempts_by_contact[contact.id].append(attempt.id)
            if attempt.dialed_at is not None:
                self._dials_by_phone[(org_id, contact.phone)].append(attempt.dialed_at)
            self._put_contact(contact)

    def end_attempt(self, result: CallResult, finish: Finish) -> tuple[Contact, Attempt] | None:
        attempt = self.attempts.get(result.attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return None
        contact = self.contacts[attempt.contact_id]
        history = self._history(contact.id, attempt.number)
        campaign = self.campaigns[attempt.campaign_id]
        new_contact, ended = finish(
            campaign.config.status, campaign.config, contact, history, attempt
        )
        org_id = campaign.org_id
        if self._live_phones.get((org_id, new_contact.phone)) == ended.id:
            del self._live_phones[(org_id, new_contact.phone)]
        self.attempts[ended.id] = ended
        self.leases.pop(ended.id, None)  # an ended attempt is never taken for lost
        self._put_contact(new_contact)
        self._record_what_was_said(org_id, new_contact.phone, ended)
        counters = self.counters[campaign.id]
        in_flight, wake_at = lifecycle.wake_after_ends(
            campaign.config.pacing.max_concurrent, counters.in_flight, [(new_contact, ended)]
        )
        self.counters[campaign.id] = evolve(counters, in_flight=in_flight)
        self._wake_by(campaign.id, wake_at)
        self._release_line(org_id, ended.connection_id)
        return new_contact, ended

    def _history(self, contact_id: str, number: int) -> list[Attempt]:
        """The contact's attempts before attempt ``number``, oldest first."""
        attempts = self.attempts
        earlier = [attempts[i] for i in self._attempts_by_contact[contact_id]]
        history = [a for a in earlier if a.number < number]
        if len(history) > 1:
            history.sort(key=_NUMBER)
        return history

    def end_attempts(self, ends: Sequence[End]) -> list[tuple[Contact, Attempt] | None]:
        return [self.end_attempt(result, finish) for result, finish in ends]

    def withdraw_attempt(self, attempt_id: str, until: datetime, reason: str) -> bool:
        attempt = self.attempts.get(attempt_id)
        if attempt is None or attempt.ended_at is not None:
            return False
        campaign = self.campaigns[attempt.campaign_id]
        contact = self.contacts[attempt.contact_id]
        back = lifecycle.withdraw(contact, attempt, campaign.config.status, until, reason)
        del self.attempts[attempt_id]
        self._attempts_by_contact[contact.id].remove(attempt_id)
        self.leases.pop(attempt_id, None)
        if self._live_phones.get((campaign.org_id, contact.phone)) == attempt_id:
            del self._live_phones[(campaign.org_id, contact.phone)]
        dials = self._dials_by_phone[(campaign.org_id, contact.phone)]
        if attempt.dialed_at in dials:
            dials.remove(attempt.dialed_at)
        self._put_contact(back)
        self.counters[campaign.id] = lifecycle.counters_after_withdrawal(
            self.counters[campaign.id], campaign.config.pacing, attempt
        )
        self._release_line(campaign.org_id, attempt.connection_id)
        self._wake_by(campaign.id, until)
        return True

    def expired_attempts(self, now: datetime, limit: int) -> list[str]:
        expired = sorted(
            (until, aid)
            for aid, until in self.leases.items()
            if until < now and self.attempts[aid].ended_at is None
        )
        return [aid for _, aid in expired[:limit]]

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease; False while someone else holds it."""
        current = self.dispatcher_leases.get(name)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self.dispatcher_leases[name] = (holder, now + ttl)
        return True

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str:
        """The organization's webhook signing secret, made on first use."""
        return self.secrets.setdefault(org_id, make())

    def reencrypt_secrets(self) -> int:
        """Nothing here is at rest, so nothing is sealed (see ``SqlStore``)."""
        return 0
