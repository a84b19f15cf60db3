"""The gateway interface, what a provider's report reads as, and the errors.

    GatewayError              the dial did not become a call in progress
    ├── GatewayRejected       refused for this number (do not retry the same way)
    ├── GatewayUnavailable    the gateway could not be reached; nothing was placed
    └── DialEnded             the provider dialled and the call ended unanswered: ``.result``

    SignatureInvalid          a callback not signed by the provider for this connection (401)
    CallbackUnreadable        a signed callback that is not a report ringcast can read (400)

A gateway maps whatever goes wrong underneath (HTTP errors, a provider's refusal, a
refused address) to these before it leaves ``place_call``: the dispatcher knows nothing
else. ``DialEnded`` is the one error that carries an end: a provider that answers the
dial itself with busy or no-answer (LiveKit) has ended the attempt, and the dispatcher
records that end as it would any other.

A gateway reports how each call ended by calling the ``report`` function it was given
(the simulator), or through ``read_callback`` when the provider calls ringcast back: both
feed the same path for calls' ends.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ringcast.core.model import VoicemailPolicy
from ringcast.core.step import CallResult
from ringcast.records import CallRecord

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
    #: the campaign's answering-machine policy: carried out by the gateway, or handed to
    #: the agent (``agent``, the default)
    voicemail: VoicemailPolicy = field(default_factory=VoicemailPolicy)


@dataclass(frozen=True)
class Accepted:
    gateway_call_id: str


def voicemail_json(policy: VoicemailPolicy) -> dict[str, str | None]:
    """The voicemail policy as the JSON an agent runtime receives with its dial (the
    ``http`` body, LiveKit's dispatch metadata): the agent carries it out."""
    return {
        "action": policy.action.value,
        "message_text": policy.message_text,
        "message_audio_url": policy.message_audio_url,
    }


@dataclass(frozen=True)
class CallbackReading:
    """What one verified provider callback says: the call's end, or progress, or nothing.

    ``attempt_id`` is None for a report about a call ringcast did not place (a provider
    sends every call's reports to one URL): acknowledge it and ignore it.
    """

    attempt_id: str | None
    final: CallResult | None = None
    #: how the call goes (``ringing``, ``answered``...), in the gateway's own words; a
    #: report with a final may carry one too (Retell's ``analyzed``)
    progress: str | None = None
    #: the provider's id of the call, when the report names it (Twilio's CallSid)
    call_id: str | None = None


class GatewayError(Exception):
    """The dial did not become a call in progress."""


class GatewayRejected(GatewayError):
    """The gateway refused this call."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached; nothing was placed."""


class DialEnded(GatewayError):
    """The provider dialled and the call ended without being answered.

    ``result`` is the attempt's end (busy, no answer, declined, unreachable, failed), with
    the provider's own code as ``provider_code``: it is recorded as it is.
    """

    def __init__(self, result: CallResult) -> None:
        super().__init__(result.failure_reason or result.outcome.value)
        self.result = result


class SignatureInvalid(Exception):
    """The callback is not signed by the provider with this connection's credentials."""


class CallbackUnreadable(ValueError):
    """The callback is correctly signed but is not a report ringcast can read."""


class CallGateway(abc.ABC):
    """What the dispatcher asks of a telephone network, or of a simulation of one.

    Every gateway places calls. The rest are capabilities some gateways lack; each has a
    default that says so (no answer, nothing to wait for, nothing to close, no callback
    accepted), so the dispatcher and the callback route call them on any gateway without
    asking what it is.
    """

    #: whether a repeated dial with the same attempt id is ignored by the gateway itself
    supports_idempotency: ClassVar[bool] = False

    @abc.abstractmethod
    async def place_call(self, request: DialRequest) -> Accepted:
        """Start a call; its end arrives later through ``report`` or ``read_callback``.

        Raises ``GatewayRejected`` or ``GatewayUnavailable`` when nothing was placed, and
        ``DialEnded`` when the call was dialled and ended at once.
        """

    async def call_state(
        self,
        attempt_id: str,  # noqa: ARG002 (the default knows of no call)
        now: datetime,  # noqa: ARG002
        call: CallRecord | None = None,  # noqa: ARG002
    ) -> CallResult | None:
        """How the call of ``attempt_id`` ended, if the gateway can say (reconciliation of
        a call whose report never came); None when it cannot, or the call goes on.

        It may be asked by a process that did not place the call: ``call`` is the store's
        record of the attempt (the number dialled, the caller number), for a gateway that
        cannot find the call by its attempt id alone.
        """
        return None

    def read_callback(
        self,
        url: str,  # noqa: ARG002 (the default accepts no callback)
        headers: Mapping[str, str],  # noqa: ARG002
        body: bytes,  # noqa: ARG002
        now: datetime,  # noqa: ARG002
    ) -> CallbackReading:
        """Verify one callback from the provider on its raw bytes, then read it.

        ``url`` is the URL the request arrived at. Raises ``SignatureInvalid`` unless the
        provider signed it for this connection (a gateway that takes no callbacks accepts
        none), and ``CallbackUnreadable`` for a signed callback that is not a report.
        """
        raise SignatureInvalid(f"the {type(self).__name__} takes no callbacks")

    async def answer_machine(  # noqa: B027 (a capability most gateways lack)
        self,
        call_id: str,
        policy: VoicemailPolicy,
    ) -> None:
        """Carry out the campaign's voicemail policy on a call an answering machine picked
        up (``call_id`` is the provider's id). Only a gateway that hears the verdict itself
        does anything (Twilio); the others hand the policy to the agent with the dial."""

    async def drain(self) -> None:  # noqa: B027 (a capability most gateways lack)
        """Wait until every call this gateway placed has been reported."""

    async def aclose(self) -> None:  # noqa: B027 (a capability most gateways lack)
        """Release what the gateway holds (an HTTP client); it places no call after."""
