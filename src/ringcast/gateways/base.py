"""The gateway interface and its errors.

    GatewayError              the dial was not placed
    ├── GatewayRejected       refused for this number (do not retry the same way)
    └── GatewayUnavailable    the gateway could not be reached; nothing was placed

A gateway reports how each call ended by calling the ``report`` function it was given,
the same path for a simulated call and for a real runtime's callback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ringcast.core.step import CallResult

Report = Callable[[CallResult], Awaitable[None]]


@dataclass(frozen=True)
class DialRequest:
    attempt_id: str  #: also the idempotency key at gateways that take one
    to: str  #: E.164
    caller: str | None
    connection_id: str | None
    campaign_id: str
    agent_id: str
    agent_version: int | None
    variables: Mapping[str, Any] = field(default_factory=dict)
    org_id: str = ""  #: whose connection ``connection_id`` is


@dataclass(frozen=True)
class Accepted:
    gateway_call_id: str


class GatewayError(Exception):
    """The call was not placed."""


class GatewayRejected(GatewayError):
    """The gateway refused this call."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached; nothing was placed."""


class CallGateway(Protocol):
    #: whether a repeated dial with the same attempt id is ignored by the gateway itself
    supports_idempotency: bool

    async def place_call(self, request: DialRequest) -> Accepted:
        """Start a call; its end arrives later through ``report``."""
        ...
