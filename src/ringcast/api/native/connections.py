"""Native endpoints for telephone connections: ``/ringcast/v1/connections``.

A connection's id is the customer's own, the one its campaigns name (Sarvam's
``connection_configs[].connection_id``). ``PUT`` registers or replaces it: which gateway
its calls go out through (``simulator`` with its outcome mix and durations, ``http`` with
the runtime's URL and signing secret, or a provider: ``twilio``, ``livekit``, ``retell``
with the provider's block), its caller numbers, its limits on attempts per second and
calls at once, and its caps on each caller number per hour and per day, all shared by
every campaign that uses it. A route to a connection nobody registered goes out through
the deployment's gateway, unlimited.

Secrets (``secret``, ``auth_token``, ``api_key``, ``api_secret``) are never shown back:
``GET`` says ``<name>_set`` instead, and a refused secret is not echoed. A provider calls
ringcast back at ``{RINGCAST_PUBLIC_URL}/ringcast/v1/gateway/<gateway>/<connection_id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from ringcast.api.bounded import Int32
from ringcast.api.deps import ClockDep, PrincipalDep, ScopedRoute, SettingsDep, StoreDep, requires
from ringcast.core.errors import NotFound
from ringcast.gateways.simulator import MAX_MEAN_RING, MAX_MEAN_TALK, MAX_SEED
from ringcast.services import connections as service

router = APIRouter(prefix="/ringcast/v1", tags=["connections"], route_class=ScopedRoute)


class SimulatorIn(BaseModel):
    outcomes: str | None = Field(
        default=None, description="e.g. answered=0.55,no_answer=0.25,busy=0.1,voicemail=0.05"
    )
    talk_s: float = Field(
        default=45,
        gt=0,
        le=MAX_MEAN_TALK.total_seconds(),
        description="Mean talk time of answered calls, in seconds",
    )
    ring_s: float = Field(
        default=20,
        gt=0,
        le=MAX_MEAN_RING.total_seconds(),
        description="Mean time until answer or give-up, in seconds",
    )
    durations: str = Field(
        default="exponential", description="exponential, lognormal, uniform or fixed"
    )
    seed: int = Field(default=0, ge=-MAX_SEED, le=MAX_SEED)


class HttpIn(BaseModel):
    url: str = Field(description="The runtime's base URL; dials are POSTed to {url}/calls")
    secret: str = Field(description="Signs dial requests and verifies the runtime's reports")


class ProviderIn(BaseModel):
    """A provider's block. Its fields are documented here but checked by the provider
    gateway's own settings dataclass (the one rule), so each is any JSON value to the
    schema: a type refused here would echo a refused secret."""

    model_config = ConfigDict(extra="allow")


class TwilioIn(ProviderIn):
    account_sid: JsonValue = Field(default=None, description="AC followed by 32 hex digits")
    auth_token: JsonValue = Field(
        default=None, description="Authenticates calls.create and keys X-Twilio-Signature"
    )
    answer_url: JsonValue = Field(
        default=None, description="Where Twilio fetches the answered call's TwiML (or twiml)"
    )
    twiml: JsonValue = Field(default=None, description="The answered call's TwiML itself")
    machine_detection: JsonValue = Field(
        default=None, description="Enable, DetectMessageEnd or null (no detection)"
    )
    api_base_url: JsonValue = Field(default=None, description="https://api.twilio.com")
    ring_timeout_s: JsonValue = Field(default=None, description="1-600, default 30")
    time_limit_s: JsonValue = Field(default=None, description="1-14400, default 1800")


class LiveKitIn(ProviderIn):
    url: JsonValue = Field(default=None, description="The LiveKit server, https:// or wss://")
    api_key: JsonValue = Field(default=None, description="The project's API key")
    api_secret: JsonValue = Field(default=None, description="The project's API secret")
    sip_trunk_id: JsonValue = Field(default=None, description="The outbound trunk, ST_...")
    agent_name: JsonValue = Field(default=None, description="The agent dispatched to each call")
    ringing_timeout_s: JsonValue = Field(default=None, description="Default 30")
    max_call_duration_s: JsonValue = Field(default=None, description="Default 1800")
    agent_join_timeout_s: JsonValue = Field(
        default=None, description="An answered call no agent joins by then ends; default 20"
    )


class RetellIn(ProviderIn):
    api_key: JsonValue = Field(
        default=None, description="Places calls and verifies Retell's webhooks"
    )
    agent_id: JsonValue = Field(default=None, description="The Retell agent that talks")
    api_base_url: JsonValue = Field(default=None, description="https://api.retellai.com")


class ConnectionIn(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    gateway: str = Field(
        default="simulator", description="simulator, http, twilio, livekit or retell"
    )
    caller_numbers: list[str] = Field(default_factory=list, max_length=1000)
    max_attempts_per_second: float | None = None
    max_concurrent: Int32 | None = None
    caller_number_max_per_hour: Int32 | None = Field(
        default=None, description="Calls each caller number may place per hour (null: no cap)"
    )
    caller_number_max_per_day: Int32 | None = Field(
        default=None, description="Calls each caller number may place per day (null: no cap)"
    )
    simulator: SimulatorIn | None = None
    http: HttpIn | None = None
    twilio: TwilioIn | None = None
    livekit: LiveKitIn | None = None
    retell: RetellIn | None = None


class ConnectionOut(BaseModel):
    connection_id: str
    name: str
    gateway: str
    caller_numbers: list[str]
    max_attempts_per_second: float | None
    max_concurrent: int | None
    caller_number_max_per_hour: int | None = None
    caller_number_max_per_day: int | None = None
    simulator: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    twilio: dict[str, Any] | None = None
    livekit: dict[str, Any] | None = None
    retell: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class ConnectionList(BaseModel):
    connections: list[ConnectionOut]


@router.put(
    "/connections/{connection_id}",
    operation_id="putConnection",
    dependencies=[requires("integrations:write")],
)
def put_connection(
    connection_id: str,
    body: ConnectionIn,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> ConnectionOut:
    """Register or replace a connection (201 when new); running calls keep their counts."""
    wanted = service.ConnectionRequest(
        name=body.name,
        gateway=body.gateway,
        caller_numbers=body.caller_numbers,
        max_attempts_per_second=body.max_attempts_per_second,
        max_concurrent=body.max_concurrent,
        simulator=body.simulator.model_dump() if body.simulator else None,
        http=body.http.model_dump() if body.http else None,
        # only what the client sent: a field left out takes the dataclass's default
        twilio=body.twilio.model_dump(exclude_unset=True) if body.twilio else None,
        livekit=body.livekit.model_dump(exclude_unset=True) if body.livekit else None,
        retell=body.retell.model_dump(exclude_unset=True) if body.retell else None,
        caller_number_max_per_hour=body.caller_number_max_per_hour,
        caller_number_max_per_day=body.caller_number_max_per_day,
    )
    registered = service.register(
        store,
        principal.org_id,
        connection_id,
        wanted,
        clock.now(),
        allow_private=settings.webhooks_allow_private,
    )
    if registered.created:
        response.status_code = 201
    return ConnectionOut(**service.public_view(registered.connection))


@router.get(
    "/connections", operation_id="listConnections", dependencies=[requires("integrations:read")]
)
def list_connections(principal: PrincipalDep, store: StoreDep) -> ConnectionList:
    return ConnectionList(
        connections=[
            ConnectionOut(**service.public_view(c))
            for c in store.list_connections(principal.org_id)
        ]
    )


@router.get(
    "/connections/{connection_id}",
    operation_id="getConnection",
    dependencies=[requires("integrations:read")],
)
def get_connection(connection_id: str, principal: PrincipalDep, store: StoreDep) -> ConnectionOut:
    known = store.get_connection(principal.org_id, connection_id)
    if known is None:
        raise NotFound("connection", connection_id)
    return ConnectionOut(**service.public_view(known))


@router.delete(
    "/connections/{connection_id}",
    status_code=204,
    operation_id="deleteConnection",
    dependencies=[requires("integrations:write")],
)
def delete_connection(connection_id: str, principal: PrincipalDep, store: StoreDep) -> Response:
    """Forget a connection: campaigns routed to it dial through the default gateway."""
    if not store.remove_connection(principal.org_id, connection_id):
        raise NotFound("connection", connection_id)
    return Response(status_code=204)
