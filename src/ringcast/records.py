"""Stored records around the core: accounts, agents, connections, campaigns.

These are what the store returns and the API surfaces read. Scheduling values (the
campaign's config, contacts, attempts) are the core's own types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from ringcast.core.callers import CallerCaps
from ringcast.core.model import Attempt, CampaignConfig


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    created_at: datetime
    disabled: bool = False
    webhook_url: str | None = None  #: the account webhook (Volubile)
    webhook_secret: str | None = field(default=None, repr=False)  #: signs it; never shown
    calling_policy: str | None = None  #: ``fr``, ``us``, ``in``; None: ``none``


@dataclass(frozen=True)
class Workspace:
    id: str
    org_id: str
    name: str
    is_default: bool
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    """A stored API key: its visible prefix and the hash of the whole key, never the key."""

    id: str
    org_id: str
    workspace_id: str
    prefix: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None = None


class AgentType(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


@dataclass(frozen=True)
class Agent:
    """An agent and its current version's prompt."""

    id: str
    org_id: str
    name: str
    type: AgentType
    created_at: datetime
    version: int = 1
    prompt_template: str = ""
    variables: tuple[str, ...] = ()  #: the prompt's {{ placeholders }}
    active: bool = True
    recordable: bool = False
    archived: bool = False


#: Marks, in ``Campaign.extra``, the hidden per-agent campaign behind direct calls; such
#: campaigns are never listed or counted.
HIDDEN_MARKER = "direct_calls_of_agent"
#: the reason a contact of a cohort still being read waits with no due time: it may be
#: dialled only once its cohort completes, and is removed if the cohort fails
COHORT_PENDING = "cohort_processing"


class Dialect(StrEnum):
    """Which API created a campaign; each reads campaigns back in its own words."""

    VOLUBILE = "volubile"
    SARVAM = "sarvam"
    NATIVE = "native"


@dataclass(frozen=True)
class Campaign:
    """A stored campaign: the core config plus what people and vendors call it."""

    config: CampaignConfig
    org_id: str
    workspace_id: str
    name: str
    agent_id: str
    dialect: Dialect
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    agent_version: int | None = None
    #: vendor fields the core does not model, echoed back by that vendor's surface
    extra: Mapping[str, Any] = field(default_factory=dict)
    created_by: str | None = None
    updated_by: str | None = None

    @property
    def id(self) -> str:
        return self.config.id


@dataclass(frozen=True)
class CallRecord:
    """One attempt as the API surfaces show it: with its campaign, agent and contact."""

    attempt: Attempt
    org_id: str
    agent_id: str
    campaign_name: str
    phone: str
    context: Mapping[str, Any]
    created_at: datetime
    transcript: tuple[Mapping[str, Any], ...] = ()
    summary: str | None = None
    extracted: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallFilter:
    org_id: str
    agent_id: str | None = None
    phone: str | None = None
    campaign_name: str | None = None
    since: datetime | None = None  #: created at or after
    until: datetime | None = None  #: created before
    sort_by: str = "created"  #: created, duration, phone, status
    descending: bool = True


@dataclass(frozen=True)
class Cohort:
    """One batch of contacts added to a campaign (Sarvam's cohort)."""

    id: str
    campaign_id: str
    name: str
    status: str  #: processing, completed, failed
    source_type: str  #: file_upload, stream
    created_at: datetime
    updated_at: datetime
    transformation: Mapping[str, Any] = field(default_factory=dict)
    total_records: int = 0
    valid_records: int = 0
    rejected_records: int = 0
    failure_reason: str | None = None
    created_by: str | None = None
    updated_by: str | None = None


@dataclass(frozen=True)
class CampaignQuery:
    workspace_id: str | None  #: None: every workspace of ``org_id``
    status: str | None = None
    search: str | None = None  #: part of the name, case-insensitive
    sort_by: str = "created_at"  #: created_at, updated_at, name, start_timestamp
    descending: bool = True
    org_id: str | None = None  #: the organization's campaigns (the command line lists them)


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    campaign_id: str | None
    attempt_id: str | None
    event_type: str
    status: str
    deliveries: int
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None
    url: str | None = None  #: where it goes
    last_error: str | None = None  #: why its latest try failed
    next_attempt_at: datetime | None = None  #: when a pending one is tried next


@dataclass(frozen=True)
class PendingDelivery:
    """A webhook delivery claimed for sending: what the deliverer needs to send it once."""

    id: str  #: also the ``webhook-id`` header: the receiver's idempotency key
    org_id: str
    campaign_id: str | None
    attempt_id: str | None  #: the attempt a per-attempt payload describes
    kind: str  #: ``sarvam_attempt``, ``volubile_call`` or ``lifecycle``
    event_type: str
    url: str
    payload: Mapping[str, Any]
    deliveries: int  #: how many times it was sent before


@dataclass(frozen=True)
class DoNotCall:
    """A number on an organization's do-not-call list."""

    phone: str  #: E.164
    source: str  #: ``api``, ``cli``, ``import`` or ``opt_out``
    created_at: datetime


#: The keys of ``Connection.settings`` (at any depth) whose values are credentials: the
#: http runtime's ``secret``, Twilio's ``auth_token``, LiveKit's ``api_key`` and
#: ``api_secret``, Retell's ``api_key``. The store keeps them encrypted (``ringcast.crypto``).
SECRET_SETTINGS = frozenset({"secret", "auth_token", "api_key", "api_secret"})

#: The keys of ``Connection.settings`` capping each caller number's dials per UTC hour and
#: per UTC day (ints; absent: no cap).
CALLER_MAX_PER_HOUR = "caller_number_max_per_hour"
CALLER_MAX_PER_DAY = "caller_number_max_per_day"


def caller_caps(settings: Mapping[str, Any]) -> CallerCaps:
    """A connection's caps per caller number, from its settings."""
    return CallerCaps(_cap(settings, CALLER_MAX_PER_HOUR), _cap(settings, CALLER_MAX_PER_DAY))


def _cap(settings: Mapping[str, Any], key: str) -> int | None:
    value = settings.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        # registration checks these; a cap read wrongly would dial past it, so say so loudly
        raise ValueError(f"connection setting {key} is {value!r}, not an integer")
    return value


@dataclass(frozen=True)
class ConnectionLoad:
    """What a connection is carrying: its calls in progress (the counter its limit holds
    against) and how many calls it dialled since a given moment."""

    connection_id: str
    in_flight: int
    dialled: int


@dataclass(frozen=True)
class Connection:
    """A telephone connection an organization dials through, shared by its campaigns.

    ``gateway`` is ``simulator`` or ``http``; ``settings`` are that gateway's own (the
    simulator's outcome mix and mean durations; the http runtime's url and secret) and
    the caps per caller number (read by ``caller_caps``). The limits hold across every campaign
    and every worker.
    """

    org_id: str
    id: str  #: the customer's own id, as its campaigns name it
    name: str
    gateway: str
    settings: Mapping[str, Any]
    caller_numbers: tuple[str, ...]
    max_attempts_per_second: float | None
    max_concurrent: int | None
    created_at: datetime
    updated_at: datetime


class ContactResult(NamedTuple):
    """One contact as a campaign's results export shows it (a tuple: exports stream
    millions of these)."""

    id: str
    phone: str
    user_identifier: str | None
    context: Mapping[str, Any]
    state: str
    reason: str | None
    attempts: int
    next_due_at: datetime | None
    last_outcome: str | None
    last_call_at: datetime | None


class AttemptResult(NamedTuple):
    """One attempt as a campaign's results export shows it."""

    id: str
    contact_id: str
    phone: str
    number: int
    state: str
    outcome: str
    due_at: datetime
    dialed_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    connection_id: str | None
    caller_number: str | None
    answered_by: str | None
    retry_rule: str | None
    failure_reason: str | None
