"""The seams the shell implements, each named after the code that consumes it.

Protocols only: the values that cross them are the core's (``core.model``,
``core.step``) or the stored records (``records``). Two stores implement them:
``SqlStore`` (SQLite or PostgreSQL) and ``MemoryStore`` (the forecast and unit tests);
``tests/integration/test_store_typing.py`` makes mypy prove that both satisfy
``DispatchStore``, so the two cannot drift apart unseen.

    AccountStore        organizations, workspaces, API keys, agents, the account webhook
    AccountQueries      organizations by name and API keys, as the command line lists them
    CampaignStore       campaigns and their contacts: what every surface reads and writes
    CampaignQueries     lists, counts and cohorts the API surfaces show (SQL store)
    ContactQueries      contacts, figures and do-not-call entries the native API shows
    ConnectionLoads     what each connection carries now (the dashboard's account page)
    ComplianceRecords   calling policies and the do-not-call list
    ConnectionRegistry  telephone connections and their limits
    CallLog             calls as the API surfaces read them back
    DispatchStore       the dispatcher's transactions: plan, end, withdraw, reconcile
    OutboxStore         webhook deliveries: claim, record, list, requeue
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.planner import CampaignSnapshot
from ringcast.core.states import CampaignStatus
from ringcast.core.step import CALL_LEASE, CallResult, Finish, TickWrites
from ringcast.readouts import ContactSearch, ContactTally, QuarterCount
from ringcast.records import (
    Agent,
    ApiKey,
    AttemptResult,
    CallFilter,
    CallRecord,
    Campaign,
    CampaignQuery,
    Cohort,
    Connection,
    ConnectionLoad,
    ContactResult,
    DoNotCall,
    Organization,
    OutboxEntry,
    PendingDelivery,
    Workspace,
)

#: Given a campaign snapshot and the agent's prompt variables: what one planning step writes.
Decide = Callable[[CampaignSnapshot, Sequence[str]], TickWrites]

#: One call end handed to the store: the gateway's report and the rule that finishes it.
End = tuple[CallResult, Finish]


class AccountStore(Protocol):
    """Organizations, workspaces, keys and agents (both stores)."""

    def ensure_organization(self, org_id: str, name: str, now: datetime) -> Organization:
        """The organization called ``name``, created with ``org_id`` if there is none."""
        ...

    def ensure_workspace(self, ws_id: str, org_id: str, name: str, now: datetime) -> Workspace:
        """The workspace ``name`` of the organization; the first one is its default."""
        ...

    def get_organization(self, org_id: str) -> Organization | None: ...

    def get_workspace(self, workspace_id: str) -> Workspace | None: ...

    def default_workspace(self, org_id: str) -> Workspace | None: ...

    def add_api_key(self, key: ApiKey) -> None: ...

    def find_api_key(self, prefix: str) -> ApiKey | None: ...

    def revoke_api_key(self, prefix: str, at: datetime) -> bool:
        """Revoke the key; False if no such key exists."""
        ...

    def add_agent(self, agent: Agent) -> None: ...

    def get_agent(self, agent_id: str) -> Agent | None: ...

    def list_agents(self, org_id: str, offset: int, limit: int) -> tuple[list[Agent], int]: ...

    def update_agent(self, agent: Agent) -> None:
        """Write the agent's name and flags (its prompt versions are not touched)."""
        ...

    def set_account_webhook(self, org_id: str, url: str | None, secret: str | None) -> None: ...


class AccountQueries(Protocol):
    """Organizations found by name, without creating one, and API keys listed (the SQL
    store only: the command line reads them)."""

    def find_organization(self, name: str) -> Organization | None: ...

    def organization_names(self) -> list[str]:
        """Every organization's name, in alphabetical order."""
        ...

    def list_api_keys(self, org_id: str) -> list[ApiKey]:
        """The organization's keys, revoked ones included, oldest first."""
        ...


class CampaignStore(Protocol):
    """Campaigns and their contacts (both stores)."""

    def create_campaign(self, campaign: Campaign, contacts: Sequence[Contact]) -> None:
        """Store the campaign and its first contacts, all or nothing (a number repeated
        among them is stored once)."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    def find_campaign_by_extra(self, org_id: str, key: str, value: str) -> Campaign | None:
        """The organization's campaign whose ``extra[key]`` is ``value`` (oldest first)."""
        ...

    def ensure_direct_campaign(self, campaign: Campaign) -> Campaign:
        """The organization's hidden campaign for the agent ``campaign.extra`` names under
        ``HIDDEN_MARKER``: the one stored, else ``campaign``, stored now; callers racing
        to make it all get the same one."""
        ...

    def update_campaign(self, campaign: Campaign) -> None:
        """Write a campaign's name, description, config and extras (not its status)."""
        ...

    def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, at: datetime, by: str | None = None
    ) -> None:
        """Move the campaign to ``status``; the lifecycle webhooks it makes go with it.

        Moving to ``cancelled`` also cancels every waiting contact, in the same
        transaction: nobody is dialled after the cancel is seen.
        """
        ...

    def add_contacts(
        self, campaign_id: str, contacts: Sequence[Contact], now: datetime
    ) -> list[Contact]:
        """Add contacts to the campaign in one transaction, each number once: a contact
        whose number the campaign already has is skipped (the database's unique index
        decides, so racing requests cannot both add it; the hidden direct-calls campaigns
        take a number as often as it is called). Returns the contacts added."""
        ...

    def get_contact(self, contact_id: str) -> Contact | None: ...

    def count_contacts(self, campaign_id: str) -> dict[ContactState, int]: ...

    def attempts_of(self, contact_id: str) -> list[Attempt]:
        """The contact's attempts, oldest first."""
        ...

    def campaign_contacts(self, campaign_id: str) -> list[Contact]: ...

    def campaign_attempts(self, campaign_id: str) -> list[Attempt]: ...


class CampaignQueries(Protocol):
    """What the API surfaces list and count (the SQL store only)."""

    def list_campaigns(
        self, where: CampaignQuery, offset: int, limit: int
    ) -> tuple[list[Campaign], int]: ...

    def count_live_campaigns(self, workspace_id: str) -> int:
        """Campaigns of the workspace that are scheduled or active."""
        ...

    def add_cohort(
        self,
        cohort: Cohort,
        file: Iterable[bytes] = (),
        lease_owner: str | None = None,
        lease_until: datetime | None = None,
    ) -> None:
        """Store a new cohort with its uploaded file (in parts) and, when given, the lease
        of the process that starts reading it at once."""
        ...

    def claim_cohort(self, owner: str, now: datetime, until: datetime) -> Cohort | None:
        """Take the lease of one ``processing`` cohort nobody holds (its lease lapsed), if
        any: the job it is resumes from its ``total_records``."""
        ...

    def cohort_batch(
        self, cohort: Cohort, owner: str, offset: int, until: datetime
    ) -> AbstractContextManager[CohortBatch]:
        """One batch of the cohort's job, in one transaction: entered only while ``owner``
        holds the lease and the job stands at ``offset`` rows (else ``LeaseLost``), which
        is renewed to ``until``; everything written in it commits together."""
        ...

    def cohort_file(self, cohort_id: str, kind: str) -> Iterator[bytes] | None:
        """The parts of one of the cohort's stored files, in order; None if it has none."""
        ...

    def complete_cohort(
        self, cohort: Cohort, owner: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Make the cohort's contacts dialable and mark it completed, while ``owner``
        holds its lease, renewed to ``lease_until`` (False once it does not: another
        process carries the job on)."""
        ...

    def fail_cohort(self, cohort: Cohort, owner: str | None, now: datetime) -> bool:
        """Mark the cohort failed with its ``failure_reason`` and remove the contacts it
        added (none was dialable yet), if ``owner`` holds its lease (or, with None, if
        it is still processing)."""
        ...

    def get_cohort(self, cohort_id: str) -> Cohort | None: ...

    def list_cohorts(self, campaign_id: str) -> list[Cohort]: ...


#: a contact a cohort adds, as its job carries it (many, across processes): its id, its
#: number in E.164, its user_identifier, its context as JSON text and its time zone
HeldContact = tuple[str, str, str | None, str, str | None]


class CohortBatch(Protocol):
    """The writes of one batch of a cohort's job (``CampaignQueries.cohort_batch``)."""

    def add_held(self, contacts: Sequence[HeldContact], now: datetime) -> set[str]:
        """Add these contacts, held until the cohort completes; a number the campaign
        already has is skipped (a number repeated among them: all but the first). Returns
        the ids of those added."""
        ...

    def phone_owners(self, phones: Sequence[str]) -> dict[str, str | None]:
        """For each of these numbers the campaign has: the cohort its contact came in."""
        ...

    def add_rejected(self, part: int, data: bytes) -> None:
        """Store a part of the rejected-records file."""
        ...

    def advance(self, read: int, added: int, rejected: int, now: datetime) -> None:
        """Count the batch into the cohort's progress."""
        ...


class ContactQueries(Protocol):
    """What the native surface shows about contacts (the SQL store only)."""

    def contact_figures(self, campaign_id: str) -> dict[tuple[ContactState, str | None], int]: ...

    def next_due_at(self, campaign_id: str) -> datetime | None:
        """When the campaign's earliest waiting contact is due; None when none waits."""
        ...

    def list_contacts(
        self, campaign_id: str, reason: str | None, offset: int, limit: int
    ) -> tuple[list[Contact], int]: ...

    def set_contact_zone(
        self, contact_id: str, zone: str | None, now: datetime
    ) -> Contact | None: ...

    def do_not_call_entry(self, org_id: str, phone: str) -> DoNotCall | None: ...

    def list_do_not_call(
        self, org_id: str, offset: int, limit: int, search: str | None = None
    ) -> tuple[list[DoNotCall], int]:
        """A page of the list in number order; with ``search``, numbers containing it."""
        ...


class ComplianceRecords(Protocol):
    """Calling policies and the do-not-call list (both stores)."""

    def set_calling_policy(self, org_id: str, policy: str | None) -> None: ...

    def add_do_not_call(
        self, org_id: str, phones: Sequence[str], source: str, now: datetime
    ) -> int:
        """List the numbers not listed yet; returns how many were new."""
        ...

    def remove_do_not_call(self, org_id: str, phone: str) -> bool: ...

    def update_campaign(self, campaign: Campaign) -> None:
        """Write a campaign's config (a campaign's own policy is part of it)."""
        ...


class ConnectionRegistry(Protocol):
    """Telephone connections and their limits (both stores)."""

    def put_connection(self, connection: Connection) -> bool:
        """Register or replace the connection; True when it is new."""
        ...

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None: ...

    def list_connections(self, org_id: str) -> list[Connection]: ...

    def connections_with_id(self, connection_id: str) -> list[Connection]:
        """Every organization's connection with this id: a provider's callback URL names
        the connection, not its organization."""
        ...

    def remove_connection(self, org_id: str, connection_id: str) -> bool: ...


class ConnectionLoads(Protocol):
    """What the organization's connections carry right now (the SQL store only)."""

    def connection_loads(self, org_id: str, since: datetime) -> list[ConnectionLoad]:
        """Each connection's calls in progress, and its calls dialled since ``since``."""
        ...


class CallLog(Protocol):
    """Reading calls back for the API surfaces and the gateways (the SQL store only)."""

    def get_call(self, attempt_id: str) -> CallRecord | None: ...

    def add_call_details(self, result: CallResult) -> bool:
        """Fill in an ended call's transcript, summary, extracted values and qualifiers
        from a later report; the outcome stays."""
        ...

    def list_calls(
        self, where: CallFilter, offset: int, limit: int
    ) -> tuple[list[CallRecord], int]: ...


class DispatchStore(Protocol):
    """The dispatcher's transactions; the forecast drives the same ones on ``MemoryStore``."""

    def earliest_wake(self) -> datetime | None:
        """When the next live campaign wants planning (drives virtual time)."""
        ...

    def campaigns_to_plan(self, now: datetime, limit: int) -> list[str]:
        """Live campaigns whose wake-up time has come, most overdue first."""
        ...

    def run_tick(
        self,
        campaign_id: str,
        now: datetime,
        horizon: timedelta,
        limit: int,
        decide: Decide,
        lease: timedelta = CALL_LEASE,
    ) -> TickWrites | None:
        """Plan one campaign and write what ``decide`` says in one transaction.

        None when the campaign is gone or another worker is planning it right now.
        """
        ...

    def end_attempt(self, result: CallResult, finish: Finish) -> tuple[Contact, Attempt] | None:
        """Record a call's end and its contact's next state; None if already recorded."""
        ...

    def end_attempts(self, ends: Sequence[End]) -> list[tuple[Contact, Attempt] | None]:
        """Record many calls' ends in one transaction (the dispatcher's group commit)."""
        ...

    def withdraw_attempt(self, attempt_id: str, until: datetime, reason: str) -> bool:
        """Take back an attempt recorded but never dialled; False if it was not pending."""
        ...

    def expired_attempts(self, now: datetime, limit: int) -> list[str]:
        """Attempts still dialling past their lease: their worker died or lost the outcome."""
        ...

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the named lease; False while someone else holds it."""
        ...

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str:
        """The organization's webhook signing secret, made on first use."""
        ...


class OutboxStore(Protocol):
    """Webhook deliveries written with the changes they announce (the SQL store only)."""

    def claim_webhooks(self, now: datetime, limit: int, lease: timedelta) -> list[PendingDelivery]:
        """Pending deliveries that are due, hidden from other workers for ``lease``."""
        ...

    def record_delivery(
        self,
        outbox_id: str,
        *,
        status: str,
        code: int | None,
        error: str | None,
        next_attempt_at: datetime | None,
        at: datetime,
    ) -> None: ...

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str: ...

    def list_outbox(self, campaign_id: str, limit: int) -> list[OutboxEntry]: ...

    def requeue_outbox(self, campaign_id: str, attempt_ids: Sequence[str], at: datetime) -> int:
        """Send these attempts' deliveries again (those not being sent right now)."""
        ...

    def list_deliveries(
        self, org_id: str, status: str | None, offset: int, limit: int
    ) -> tuple[list[OutboxEntry], int]:
        """A page of the organization's deliveries, newest first, perhaps of one status."""
        ...

    def get_delivery(self, org_id: str, outbox_id: str) -> OutboxEntry | None: ...

    def retry_delivery(self, org_id: str, outbox_id: str, at: datetime) -> bool:
        """Send the organization's failed delivery again; False if it has no such one."""
        ...


class ResultExports(Protocol):
    """A campaign's results, streamed for CSV exports (the SQL store only)."""

    def context_keys(self, campaign_id: str) -> list[str]:
        """Every key of the campaign's contacts' context, sorted."""
        ...

    def contact_results(self, campaign_id: str) -> Iterator[ContactResult]:
        """The campaign's contacts with their latest attempt, streamed in id order."""
        ...

    def contact_results_csv(self, campaign_id: str, keys: Sequence[str]) -> Iterator[str] | None:
        """``contact_results`` as CSV rows the database writes itself, or None where it
        cannot (SQLite)."""
        ...

    def attempt_results(self, campaign_id: str) -> Iterator[AttemptResult]:
        """The campaign's attempts, streamed by contact then attempt number."""
        ...


@dataclass(frozen=True)
class ConnectionInFlight:
    """A registered connection's calls in flight and its limit (None: unlimited)."""

    org_id: str
    connection_id: str
    in_flight: int
    max_concurrent: int | None


@dataclass(frozen=True)
class Backlog:
    """The figures ``/metrics`` reads from the database, each from a query whose cost is
    bounded whatever the number of contacts (``db.sql.calls``): the two counts that could
    grow without bound stop at ``cap`` (a figure equal to it means "at least")."""

    due_contacts: int
    in_flight_calls: int
    webhook_backlog: int
    #: when the oldest webhook delivery still pending was written; None: none pending
    oldest_webhook_at: datetime | None
    connections: tuple[ConnectionInFlight, ...]
    cap: int


class OperatorFigures(Protocol):
    """What ``/metrics`` reads from the store on each scrape."""

    def backlog(self, now: datetime) -> Backlog:
        """Due contacts (of active campaigns), calls in flight, webhook deliveries
        pending and the oldest one's age, and each connection's calls against its limit."""
        ...


class DashboardQueries(Protocol):
    """What the dashboard reads beyond the API's listings (the SQL store only)."""

    def contact_tallies(self, campaign_ids: Sequence[str]) -> dict[str, ContactTally]: ...

    def next_due_at(self, campaign_id: str) -> datetime | None: ...

    def search_contacts(self, search: ContactSearch) -> list[Contact]: ...

    def campaign_calls(self, campaign_id: str, offset: int, limit: int) -> list[CallRecord]: ...

    def attempt_quarters(self, campaign_id: str) -> list[QuarterCount]: ...

    def final_quarters(self, campaign_id: str) -> list[QuarterCount]: ...


class Store(
    AccountStore,
    CampaignStore,
    ComplianceRecords,
    ConnectionRegistry,
    DispatchStore,
    Protocol,
):
    """What both stores offer: everything but the SQL store's listings and outbox."""


class SqlStoreApi(
    Store,
    AccountQueries,
    CampaignQueries,
    ContactQueries,
    ConnectionLoads,
    CallLog,
    OutboxStore,
    OperatorFigures,
    DashboardQueries,
    ResultExports,
    Protocol,
):
    """Everything the API surfaces and the server need: the SQL store's whole face."""
