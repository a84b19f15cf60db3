"""An app over a fresh database (SQLite, and PostgreSQL when marked), on a virtual clock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ringcast.clock import VirtualClock
from ringcast.records import AgentType
from ringcast.runtime import Runtime
from ringcast.services import accounts

# the fixtures every in-process API test uses, shared with the dashboard's
from tests.app_fixtures import START as START
from tests.app_fixtures import app as app
from tests.app_fixtures import client as client
from tests.app_fixtures import clock as clock
from tests.app_fixtures import runtime as runtime


@dataclass
class Account:
    org_id: str
    workspace_id: str
    key: str
    prefix: str
    agent_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.key}


def make_account(runtime: Runtime, clock: VirtualClock, org: str) -> Account:
    issued = accounts.issue_key(runtime.store, clock, org)
    agent = accounts.register_agent(
        runtime.store, clock, org, "Reminder", "Hello {{ firstName }}, order {{ orderNumber }}"
    )
    return Account(
        issued.organization.id, issued.workspace.id, issued.plaintext, issued.key.prefix, agent.id
    )


@pytest.fixture
def account(runtime: Runtime, clock: VirtualClock) -> Account:
    return make_account(runtime, clock, "acme")


@pytest.fixture
def other_account(runtime: Runtime, clock: VirtualClock) -> Account:
    return make_account(runtime, clock, "globex")


@pytest.fixture
def inbound_agent(runtime: Runtime, clock: VirtualClock, account: Account) -> str:
    return accounts.register_agent(runtime.store, clock, "acme", "Desk", "Hi", AgentType.INBOUND).id
