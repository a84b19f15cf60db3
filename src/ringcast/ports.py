"""The seams the shell implements: where state lives and how calls are placed.

``Store`` has two implementations behind the same contract tests: ``SqlStore``
(SQLite or PostgreSQL) and ``MemoryStore`` (the forecast and unit tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from ringcast.core.model import Attempt, Contact, ContactState
from ringcast.core.pacing import PacingCounters
from ringcast.core.planner import CampaignSnapshot
from ringcast.core.states import CampaignStatus
from ringcast.records import (
    Agent,
    ApiKey,
    CallFilter,
    CallRecord,
    Campaign,
    CampaignQuery,
    Cohort,
    Connection,
    DoNotCall,
    Organization,
    OutboxEntry,
    Workspace,
)


class Store(Protocol):
    # --- accounts ---------------------------------------------------------------
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

    # --- campaigns and contacts ---------------------------------------------------
    def create_campaign(self, campaign: Campaign, contacts: Sequence[Contact]) -> None:
        """Store the campaign and its first contacts, all or nothing."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...

    def find_campaign_by_extra(self, org_id: str, key: str, value: str) -> Campaign | None:
        """The organization's campaign whose ``extra[key]`` is ``value`` (oldest first)."""
        ...

    def update_campaign(self, campaign: Campaign) -> None:
        """Write a campaign's name, description, config and extras (not its status)."""
        ...

    def set_campaign_status(
        self, campaign_id: str, status: CampaignStatus, at: datetime, by: str | None = None
    ) -> None: ...

    def add_contacts(
        self, campaign_id: str, contacts: Sequence[Contact], now: datetime
    ) -> None: ...

    def get_contact(self, contact_id: str) -> Contact | None: ...

    def cancel_waiting_contacts(self, campaign_id: str, at: datetime) -> int:
        """Cancel every waiting contact of the campaign; how many were cancelled."""
        ...

    def count_contacts(self, campaign_id: str) -> dict[ContactState, int]: ...

    # --- dispatch -------------------------------------------------------------------
    def load_snapshot(
        self, campaign_id: str, now: datetime, horizon: timedelta, limit: int
    ) -> CampaignSnapshot | None:
        """The campaign, its counters and up to ``limit`` waiting contacts due by then."""
        ...

    def record_dials(
        self, campaign_id: str, dials: Sequence[tuple[Contact, Attempt]], counters: PacingCounters
    ) -> None:
        """Write the attempts (before anyone dials them) and the counters, all or nothing.

        Raises ``Conflict`` if an attempt already exists or its number is already in a call.
        """
        ...

    def record_attempt_end(self, contact: Contact, attempt: Attempt) -> None:
        """Write an attempt's outcome and its contact's next state together."""
        ...

    def attempts_of(self, contact_id: str) -> list[Attempt]:
        """The contact's attempts, oldest first."""
        ...


class CallLog(Protocol):
    """Reading calls back for the API surfaces (the SQL store only: the forecast never asks)."""

    def get_call(self, attempt_id: str) -> CallRecord | None: ...

    def list_calls(
        self, where: CallFilter, offset: int, limit: int
    ) -> tuple[list[CallRecord], int]: ...


class CampaignQueries(Protocol):
    """What the API surfaces list and count (the SQL store only)."""

    def list_campaigns(
        self, where: CampaignQuery, offset: int, limit: int
    ) -> tuple[list[Campaign], int]: ...

    def count_live_campaigns(self, workspace_id: str) -> int:
        """Campaigns of the workspace that are scheduled or active."""
        ...

    def phones_in_campaign(self, campaign_id: str, phones: Sequence[str]) -> set[str]:
        """Which of these numbers the campaign already has a contact for."""
        ...

    def add_cohort(self, cohort: Cohort) -> None: ...

    def get_cohort(self, cohort_id: str) -> Cohort | None: ...

    def list_cohorts(self, campaign_id: str) -> list[Cohort]: ...

    def finish_cohort(self, cohort: Cohort) -> None:
        """Write a cohort's status, counts and failure reason."""
        ...

    def list_outbox(self, campaign_id: str, limit: int) -> list[OutboxEntry]: ...

    def requeue_outbox(self, campaign_id: str, attempt_ids: Sequence[str], at: datetime) -> int:
        """Send these attempts' deliveries again (those not being sent right now)."""
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

    def update_campaign(self, campaign: Campaign) -> None: ...


class ConnectionRegistry(Protocol):
    """Telephone connections and their limits (both stores)."""

    def put_connection(self, connection: Connection) -> bool: ...

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None: ...

    def list_connections(self, org_id: str) -> list[Connection]: ...

    def remove_connection(self, org_id: str, connection_id: str) -> bool: ...


class ContactQueries(Protocol):
    """What the native surface shows about contacts (the SQL store only)."""

    def contact_figures(self, campaign_id: str) -> dict[tuple[ContactState, str | None], int]: ...

    def list_contacts(
        self, campaign_id: str, reason: str | None, offset: int, limit: int
    ) -> tuple[list[Contact], int]: ...

    def set_contact_zone(
        self, contact_id: str, zone: str | None, now: datetime
    ) -> Contact | None: ...

    def do_not_call_entry(self, org_id: str, phone: str) -> DoNotCall | None: ...

    def list_do_not_call(
        self, org_id: str, offset: int, limit: int
    ) -> tuple[list[DoNotCall], int]: ...
