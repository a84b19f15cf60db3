"""Native endpoints for telephone connections: ``/ringcast/v1/connections``.

A connection's id is the customer's own, the one its campaigns name (Sarvam's
``connection_configs[].connection_id``). ``PUT`` registers or replaces it: which gateway
its calls go out through (``simulator`` with its outcome mix and durations, or ``http``
with the runtime's URL and signing secret), its caller numbers, and its limits on
attempts per second and calls at once, shared by every campaign that uses it. A route to
a connection nobody registered goes out through the deployment's gateway, unlimited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from ringcast.api.deps import ClockDep, PrincipalDep, StoreDep
from ringcast.core.errors import NotFound
from ringcast.services import connections as service

router = APIRouter(prefix="/ringcast/v1", tags=["connections"])


class SimulatorIn(BaseModel):
    outcomes: str | None = Field(
        default=None, description="e.g. answered=0.55,no_answer=0.25,busy=0.1,voicemail=0.05"
    )
    talk_s: float = Field(default=45, gt=0, description="Mean talk time of answered calls")
    ring_s: float = Field(default=20, gt=0, description="Mean time until answer or give-up")
    durations: str = Field(
        default="exponential", description="exponential, lognormal, uniform or fixed"
    )
    seed: int = 0


class HttpIn(BaseModel):
    url: str = Field(description="The runtime's base URL; dials are POSTed to {url}/calls")
    secret: str = Field(description="Signs dial requests and verifies the runtime's reports")


class ConnectionIn(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    gateway: str = Field(default="simulator", description="simulator or http")
    caller_numbers: list[str] = Field(default_factory=list, max_length=1000)
    max_attempts_per_second: float | None = None
    max_concurrent: int | None = None
    simulator: SimulatorIn | None = None
    http: HttpIn | None = None


class ConnectionOut(BaseModel):
    connection_id: str
    name: str
    gateway: str
    caller_numbers: list[str]
    max_attempts_per_second: float | None
    max_concurrent: int | None
    simulator: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class ConnectionList(BaseModel):
    connections: list[ConnectionOut]


@router.put("/connections/{connection_id}", operation_id="putConnection")
def put_connection(
    connection_id: str,
    body: ConnectionIn,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    response: Response,
) -> ConnectionOut:
    """Register or replace a connection (201 when new); running calls keep their counts."""
    principal.require("campaigns:write")
    wanted = service.ConnectionRequest(
        name=body.name,
        gateway=body.gateway,
        caller_numbers=body.caller_numbers,
        max_attempts_per_second=body.max_attempts_per_second,
        max_concurrent=body.max_concurrent,
        simulator=body.simulator.model_dump() if body.simulator else None,
        http=body.http.model_dump() if body.http else None,
    )
    registered = service.register(store, principal.org_id, connection_id, wanted, clock.now())
    if registered.created:
        response.status_code = 201
    return ConnectionOut(**service.public_view(registered.connection))


@router.get("/connections", operation_id="listConnections")
def list_connections(principal: PrincipalDep, store: StoreDep) -> ConnectionList:
    principal.require("campaigns:read")
    return ConnectionList(
        connections=[
            ConnectionOut(**service.public_view(c))
            for c in store.list_connections(principal.org_id)
        ]
    )


@router.get("/connections/{connection_id}", operation_id="getConnection")
def get_connection(connection_id: str, principal: PrincipalDep, store: StoreDep) -> ConnectionOut:
    principal.require("campaigns:read")
    known = store.get_connection(principal.org_id, connection_id)
    if known is None:
        raise NotFound("connection", connection_id)
    return ConnectionOut(**service.public_view(known))


@router.delete("/connections/{connection_id}", status_code=204, operation_id="deleteConnection")
def delete_connection(connection_id: str, principal: PrincipalDep, store: StoreDep) -> Response:
    """Forget a connection: campaigns routed to it dial through the default gateway."""
    principal.require("campaigns:write")
    if not store.remove_connection(principal.org_id, connection_id):
        raise NotFound("connection", connection_id)
    return Response(status_code=204)
