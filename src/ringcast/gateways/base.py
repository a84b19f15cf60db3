"""The gateway interface and its errors.

    GatewayError              the dial was not placed
    ├── GatewayRejected       refused for this number (do not retry the same way)
    └── GatewayUnavailable    the gateway could not be reached; nothing was placed

A gateway maps whatever goes wrong underneath (HTTP errors, a provider's refusal, a
refused address) to these two before it leaves ``place_call``: the dispatcher knows
nothing else.

A gateway reports how each call ended by calling the ``report`` function it was given,
the same path for a simulated call and for a real runtime's callback.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

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
    variables: Mapping[str, Any] = field(default_factory=dict)  #: JSON values
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


class CallGateway(abc.ABC):
    """What the dispatcher asks of a telephone network, or of a simulation of one.

    Every gateway places calls. The rest are capabilities some gateways lack; each has a
    default that says so (no answer, nothing to wait for, nothing to close), so the
    dispatcher calls them on any gateway without asking what it is.
    """

    #: whether a repeated dial with the same attempt id is ignored by the gateway itself
    supports_idempotency: ClassVar[bool] = False

    @abc.abstractmethod
    async def place_call(self, request: DialRequest) -> Accepted:
        """Start a call; its end arrives later through ``report``.

        Raises ``GatewayRejected`` or ``GatewayUnavailable`` when nothing was placed.
        """

    async def call_state(
        self,
        attempt_id: str,  # noqa: ARG002 (the default knows of no call)
        now: datetime,  # noqa: ARG002
    ) -> CallResult | None:
        """How the call of ``attempt_id`` ended, if the gateway can say (reconciliation of
        a call whose report never came); None when it cannot, or the call goes on."""
        return None

    async def drain(self) -> None:  # noqa: B027 (a capability most gateways lack)
        """Wait until every call this gateway placed has been reported."""

    async def aclose(self) -> None:  # noqa: B027 (a capability most gateways lack)
        """Release what the gateway holds (an HTTP client); it places no call after."""
