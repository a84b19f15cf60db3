"""Organizations, workspaces, API keys and agents."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ringcast.clock import Clock
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.ports import AccountQueries, SqlStoreApi, Store
from ringcast.records import Agent, AgentType, ApiKey, Organization, Workspace
from ringcast.security import generate_key, key_prefix, matches

DEFAULT_WORKSPACE = "default"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
#: How many existing organizations a refusal names before it says how many more there are.
NAMED_ORGANIZATIONS = 20


class UnknownOrganization(NotFound):
    """No organization has the name given; the refusal names those that exist, so a
    mistyped name is seen for what it is rather than becoming a new, empty organization."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__("organization", name)
        self.known = tuple(known)

    def __str__(self) -> str:
        named = ", ".join(self.known[:NAMED_ORGANIZATIONS]) or "none yet"
        more = len(self.known) - NAMED_ORGANIZATIONS
        return f'no organization "{self.ident}"; known: {named}' + (
            f" and {more} more" if more > 0 else ""
        )


@dataclass(frozen=True)
class KeyListing:
    """An API key as it is listed: what identifies it, never its secret nor its hash."""

    prefix: str
    workspace: str
    workspace_id: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    organization: Organization
    workspace: Workspace
    key: ApiKey
    plaintext: str  #: shown to the person once


def new_id() -> str:
    return str(uuid.uuid4())


def ensure_account(
    store: Store, clock: Clock, org: str, workspace: str | None
) -> tuple[Organization, Workspace]:
    """The organization and workspace by name, created if they do not exist yet."""
    now = clock.now()
    organization = store.ensure_organization(new_id(), _name("org", org), now)
    ws = store.ensure_workspace(
        new_id(), organization.id, _name("workspace", workspace or DEFAULT_WORKSPACE), now
    )
    return organization, ws


def find_organization(store: AccountQueries, org: str) -> Organization:
    """The organization called ``org``, which must exist (``UnknownOrganization``): only
    issuing a key creates one."""
    name = _name("org", org)
    found = store.find_organization(name)
    if found is None:
        raise UnknownOrganization(name, store.organization_names())
    return found


def issue_key(store: Store, clock: Clock, org: str, workspace: str | None = None) -> IssuedKey:
    """A new API key for the workspace (its organization's default one if none is named)."""
    organization, ws = ensure_account(store, clock, org, workspace)
    made = generate_key()
    key = ApiKey(new_id(), organization.id, ws.id, made.prefix, made.key_hash, clock.now())
    store.add_api_key(key)
    return IssuedKey(organization, ws, key, made.plaintext)


def list_keys(store: SqlStoreApi, org_id: str) -> list[KeyListing]:
    """The organization's API keys, revoked ones included, oldest first."""
    workspaces: dict[str, str] = {}
    listed = []
    for key in store.list_api_keys(org_id):
        if key.workspace_id not in workspaces:
            ws = store.get_workspace(key.workspace_id)
            workspaces[key.workspace_id] = ws.name if ws else key.workspace_id
        listed.append(
            KeyListing(
                key.prefix,
                workspaces[key.workspace_id],
                key.workspace_id,
                key.created_at,
                key.revoked_at,
            )
        )
    return listed


def authenticate(store: Store, presented: str) -> ApiKey | None:
    """The live key ``presented`` stands for, or None (unknown, wrong, revoked, disabled org)."""
    prefix = key_prefix(presented)
    if prefix is None:
        return None
    key = store.find_api_key(prefix)
    if key is None or key.revoked_at is not None or not matches(presented, key.key_hash):
        return None
    org = store.get_organization(key.org_id)
    if org is None or org.disabled:
        return None
    return key


def prompt_variables(prompt: str) -> tuple[str, ...]:
    """The ``{{ placeholders }}`` of a prompt, in order of first appearance."""
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(prompt)))


def register_agent(
    store: Store,
    clock: Clock,
    org: str,
    name: str,
    prompt: str,
    agent_type: AgentType = AgentType.OUTBOUND,
) -> Agent:
    organization, _ = ensure_account(store, clock, org, None)
    agent = Agent(
        id=new_id(),
        org_id=organization.id,
        name=_name("name", name),
        type=agent_type,
        created_at=clock.now(),
        prompt_template=prompt,
        variables=prompt_variables(prompt),
    )
    store.add_agent(agent)
    return agent


def list_agents(store: Store, org_id: str, limit: int) -> tuple[list[Agent], int]:
    """The organization's first ``limit`` agents, oldest first, and how many it has."""
    return store.list_agents(org_id, 0, limit)


@dataclass(frozen=True)
class AgentChange:
    """What a request changes on an agent; None leaves that setting as it is."""

    name: str | None = None
    active: bool | None = None
    recordable: bool | None = None
    archived: bool | None = None


def get_agent(store: Store, org_id: str, agent_id: str) -> Agent:
    """The organization's agent; another organization's reads as one that does not exist."""
    agent = store.get_agent(agent_id)
    if agent is None or agent.org_id != org_id:
        raise NotFound("agent", agent_id)
    return agent


def change_agent(store: Store, org_id: str, agent_id: str, change: AgentChange) -> Agent:
    """Rename the organization's agent, or switch it active, recordable or archived."""
    agent = get_agent(store, org_id, agent_id)
    updated = replace(
        agent,
        name=agent.name if change.name is None else change.name,
        active=agent.active if change.active is None else change.active,
        recordable=agent.recordable if change.recordable is None else change.recordable,
        archived=agent.archived if change.archived is None else change.archived,
    )
    store.update_agent(updated)
    return updated


def _name(field: str, value: str) -> str:
    cleaned = value.strip()
    if not cleaned or len(cleaned) > 200:
        raise ValidationFailed.single(field, value, "must be 1 to 200 characters")
    return cleaned
