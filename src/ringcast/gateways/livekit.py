"""The ``livekit`` gateway: LiveKit SIP dials the callee, a LiveKit agent does the talking.

Theory of operation
-------------------
Each attempt gets its own LiveKit room, ``rc-<attempt_id>``. ``place_call`` makes three
requests through the official SDK (``livekit-api``), with the SDK's retries turned off
(``failover=False``):

1. ``RoomService.CreateRoom{name, metadata}``. The room's metadata is ringcast's record of
   the attempt at the provider (the *room record*, below). Every ringcast process can read
   it: the worker that dialled, the API process that receives the webhooks, and
   reconciliation.
2. ``AgentDispatchService.CreateDispatch{agent_name, room, metadata}``. The dispatch
   metadata is what the agent learns about its call (JSON)::

       {"attempt_id", "callback_url", "campaign_id", "agent_id", "agent_version",
        "to", "from", "callee_identity": "callee", "variables": {...}}

3. ``SIP.CreateSIPParticipant{sip_trunk_id, sip_call_to, sip_number, room_name,
   participant_identity="callee", participant_attributes={"ringcast.attempt_id"},
   ringing_timeout, max_call_duration, wait_until_answered=true}``. LiveKit answers when
   the callee picks up. If the call fails, it answers with a Twirp error whose
   ``meta.sip_status_code`` says why (486, 480, 603, ...).

How an attempt ends, and who says so:

* **The call is never answered** (a SIP status at create): ``place_call`` raises
  ``DialEnded`` carrying the attempt's end (``busy``, ``no_answer``, ``rejected``,
  ``unreachable``, ``failed``; ``provider_code`` is the SIP status). The room is then
  deleted, which lets the dispatched agent go. LiveKit's webhooks about that room are
  progress only: ``DisconnectReason`` cannot tell 486 from 603.
* **The call is answered**: the room record gains ``placed_at``, ``answered_at`` and
  ``call_id``. The final report is then one of:
  - the agent's own report (below): outcome, ``answered_by``, qualifiers, transcript,
    extracted variables;
  - ``participant_left`` for the callee with a failure reason soon after the answer. This
    is the known "busy after answer": ``USER_REJECTED`` is ``busy``, ``USER_UNAVAILABLE``
    is ``no_answer``, ``SIP_TRUNK_FAILURE`` is ``failed``, ``MEDIA_FAILURE`` and
    ``CONNECTION_TIMEOUT`` are ``dropped``. ``provider_code`` is the reason's name;
  - ``room_finished``. The room record says how the call ended (``ended``), or else it
    was answered and the agent sent no report: ``completed``, code ``room_finished``.
  Anything after the first final report is a harmless duplicate (the store ignores a
  second end). Progress (``ringing``, ``answered``, ``in_progress``) never ends anything.
  So a ``ringing`` that arrives after ``completed`` undoes nothing.
* **The agent never joins**: ``agent_join_timeout_s`` after the dispatch, the worker
  that dialled lists the room's participants. If the callee is there and no agent is,
  the room record gets ``ended = provider_error / agent_never_joined`` and the room is
  deleted, which hangs up the SIP leg. LiveKit's ``room_finished`` then carries that end.
  Reconciliation repeats this check, in case the worker died.
* **A create whose answer was lost** (a timeout, a 5xx, a dropped connection): the
  callee is looked up in the attempt's room before anything else is decided. Found:
  ``Accepted`` with its ``sip.callID``. Not found: ``GatewayUnavailable``, and the room
  is deleted. If the lookup itself keeps failing, ringcast cannot tell whether a call is
  live. It then answers ``Accepted(room name)`` and leaves the attempt to reconciliation,
  because answering ``GatewayUnavailable`` could get the number dialled twice.

Reconciliation (``call_state``) reads the room. If the room is gone, the call is over and
LiveKit keeps no record of how: None. If the room record holds an end: that end. If the
callee is still on the line: None (live), unless no agent ever joined. If the callee's
leg is over and the call was answered: ``completed`` (code ``callee_left``); the room is
deleted to let a stuck agent go.

Reports, all to the connection's callback URL and all signed the same way
--------------------------------------------------------------------------
LiveKit signs its webhooks with the connection's API key pair. The ``Authorization``
header is a JWT whose ``sha256`` claim is the base64 SHA-256 of the raw body. It is
checked with ``livekit.api.WebhookReceiver(TokenVerifier(api_key, api_secret))``.
The agent already holds that key pair: an agent worker needs it to join LiveKit. So the
agent signs its report the same way, with ``agent_report_headers``. The report is::

    POST <callback_url from the dispatch metadata>
    Content-Type: application/json
    Authorization: <JWT, sha256 claim = base64(sha256(body)), signed with the key pair>

    {"event": "ringcast_agent_report",
     "attempt_id": "...",                      # from the dispatch metadata
     "outcome": "completed" | "partial" | "transferred" | "dropped" | "voicemail"
                | "internal_error",
     "answered_by": "human" | "machine" | "fax" | "unknown" | null,
     "code": "machine-vm" | null,              # the agent's own evidence, e.g. its AMD
                                               # category; kept as provider_code
     "answered_at": "2026-11-20T10:00:03+00:00" | null,
     "ended_at": "2026-11-20T10:01:05+00:00" | null,
     "duration_s": 62.0 | null,
     "qualifiers": ["callback_requested"],
     "transcript": [{"role": "agent", "text": "Hello"}, ...],
     "summary": "..." | null,
     "extracted": {"email": "..."}}

``agent_report_payload`` builds exactly this body; the agent sends it before it leaves
the room. After ``room_finished`` the report comes too late: the attempt has already ended.

Errors::

    GatewayError (ringcast.gateways.base)
    ├── GatewayRejected     a 4xx that names no SIP status (bad trunk, bad number, bad key)
    ├── GatewayUnavailable  429 without a SIP status, 5xx, unreachable; nothing was placed
    └── DialEnded           LiveKit dialled and the call ended unanswered: ``.result``
    SignatureInvalid        a report whose token or body hash does not check out (401)
    CallbackMalformed       a signed report that cannot be read (400)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import aiohttp
import structlog
from google.protobuf import duration_pb2, json_format
from livekit.api import AccessToken, LiveKitAPI, ServerError, TokenVerifier, WebhookReceiver
from livekit.protocol.agent_dispatch import CreateAgentDispatchRequest
from livekit.protocol.models import DisconnectReason, ParticipantInfo
from livekit.protocol.room import (
    CreateRoomRequest,
    DeleteRoomRequest,
    ListParticipantsRequest,
    ListRoomsRequest,
    UpdateRoomMetadataRequest,
)
from livekit.protocol.sip import CreateSIPParticipantRequest
from livekit.protocol.webhook import WebhookEvent

from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import (
    Accepted,
    DialRequest,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
)

log = structlog.get_logger("ringcast.gateways.livekit")

#: Rooms ringcast makes are named after the attempt: ``rc-<attempt_id>``.
ROOM_PREFIX = "rc-"
#: The callee's participant identity in its room (the agent finds the callee by it).
CALLEE_IDENTITY = "callee"
#: The ``event`` of the agent's report, beside LiveKit's own event names.
AGENT_REPORT_EVENT = "ringcast_agent_report"
#: Each API request but the dial itself must be answered within this. The dial waits
#: for the callee: the SDK gives it the ringing timeout plus a margin.
REQUEST_TIMEOUT = timedelta(seconds=10)
#: Tries at finding a call whose create answer was lost, and the first pause between them.
LOOKUP_TRIES = 3
LOOKUP_PAUSE = timedelta(milliseconds=200)

#: Progress values ``read_callback`` gives (none of them ends the attempt).
RINGING, ANSWERED, IN_PROGRESS = "ringing", "answered", "in_progress"

#: ``sip.callStatus`` values that mean the callee picked up.
_ANSWERED_STATUSES = frozenset({"active", "automation"})
_HANGUP = "hangup"

#: SIP final status -> outcome; any other failure status is ``failed``.
SIP_OUTCOMES: dict[int, Outcome] = {
    486: Outcome.BUSY,  # Busy Here
    600: Outcome.BUSY,  # Busy Everywhere
    408: Outcome.NO_ANSWER,  # Request Timeout
    480: Outcome.NO_ANSWER,  # Temporarily Unavailable
    487: Outcome.NO_ANSWER,  # Request Terminated: LiveKit gave up ringing
    603: Outcome.REJECTED,  # Decline
    607: Outcome.REJECTED,  # Unwanted
    608: Outcome.REJECTED,  # Rejected
    404: Outcome.UNREACHABLE,  # Not Found
    410: Outcome.UNREACHABLE,  # Gone
    484: Outcome.UNREACHABLE,  # Address Incomplete
    485: Outcome.UNREACHABLE,  # Ambiguous
    604: Outcome.UNREACHABLE,  # Does Not Exist Anywhere
}

#: How the callee's leg ending after an answer reads, by LiveKit's ``DisconnectReason``.
#: The rest (``CLIENT_INITIATED``: the callee hung up; ``ROOM_DELETED``...) is a normal
#: end: the agent's report or ``room_finished`` says how the call went.
LEG_FAILURES: dict[int, Outcome] = {
    DisconnectReason.USER_REJECTED: Outcome.BUSY,
    DisconnectReason.USER_UNAVAILABLE: Outcome.NO_ANSWER,
    DisconnectReason.SIP_TRUNK_FAILURE: Outcome.FAILED,
    DisconnectReason.MEDIA_FAILURE: Outcome.DROPPED,
    DisconnectReason.CONNECTION_TIMEOUT: Outcome.DROPPED,
}

#: What an agent may say of a call it took part in.
AGENT_OUTCOMES = frozenset(
    {
        Outcome.COMPLETED,
        Outcome.PARTIAL,
        Outcome.TRANSFERRED,
        Outcome.DROPPED,
        Outcome.VOICEMAIL,
        Outcome.INTERNAL_ERROR,
    }
)
ANSWERED_BY = frozenset({"human", "machine", "fax", "unknown"})
#: LiveKit Agents' answering-machine categories, in ringcast's ``answered_by`` words.
AMD_ANSWERED_BY = {
    "human": "human",
    "machine-ivr": "machine",
    "machine-vm": "machine",
    "machine-unavailable": "machine",
    "uncertain": "unknown",
}

_LOOKUP_ERRORS = (ServerError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class LiveKitSettings:
    """A connection's ``livekit`` settings, under the connection body's own field names.

    * ``url``: the LiveKit server (``https://...`` or ``wss://...``). Tests point it at a fake.
    * ``api_key``, ``api_secret``: an API key pair of the LiveKit project. The SDK signs
      every request with it, LiveKit signs its webhooks with it, and the agent signs its
      report with it. Both are secrets: never shown, never logged.
    * ``sip_trunk_id``: the outbound SIP trunk (``ST_...``) calls go out on.
    * ``agent_name``: the agent dispatched into each call's room (explicit dispatch).
    * ``ringing_timeout_s``: how long the phone rings before the call counts as unanswered.
    * ``max_call_duration_s``: LiveKit hangs up a call that lasts longer than this.
    * ``agent_join_timeout_s``: if a call has been answered and no agent is in the room
      this long after the dispatch, the attempt ends ``provider_error`` and is hung up.
    """

    url: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    sip_trunk_id: str
    agent_name: str
    ringing_timeout_s: int = 30
    max_call_duration_s: int = 1800
    agent_join_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("livekit.url must be an http(s) or ws(s) URL")
        for name in ("api_key", "api_secret", "sip_trunk_id", "agent_name"):
            if not getattr(self, name):
                raise ValueError(f"livekit.{name} is required")
        if self.ringing_timeout_s <= 0 or self.max_call_duration_s <= 0:
            raise ValueError("livekit timeouts must be positive")
        if self.agent_join_timeout_s <= 0:
            raise ValueError("livekit.agent_join_timeout_s must be positive")

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any]) -> LiveKitSettings:
        """The settings in a connection body's ``livekit`` object (other keys ignored)."""
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in body]
        if missing:
            raise ValueError(f"livekit settings lack {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})

    @property
    def agent_join_timeout(self) -> timedelta:
        return timedelta(seconds=self.agent_join_timeout_s)


class DialEnded(GatewayError):
    """LiveKit dialled and the call ended without being answered: ``result`` is the
    attempt's end (busy, no answer, declined, unreachable, failed) with the SIP status as
    ``provider_code``. It should be recorded as it is. A dispatcher that does not know this
    error still ends the attempt at once, as for any ``GatewayError``."""

    def __init__(self, result: CallResult) -> None:
        super().__init__(result.failure_reason or result.outcome.value)
        self.result = result


class SignatureInvalid(Exception):
    """A report without a valid LiveKit signature over its exact bytes (answer 401)."""


class CallbackMalformed(ValueError):
    """A correctly signed report that is not one ringcast can read (answer 400)."""


class CallbackReading(NamedTuple):
    """What one report says. ``attempt_id`` is None for a webhook about a room ringcast
    did not make (a LiveKit project sends every room's webhooks to one URL)."""

    attempt_id: str | None
    final: CallResult | None
    progress: str | None


def room_name(attempt_id: str) -> str:
    return f"{ROOM_PREFIX}{attempt_id}"


def attempt_of(room: str) -> str | None:
    """The attempt a room was made for, or None for a room ringcast did not make."""
    if room.startswith(ROOM_PREFIX) and len(room) > len(ROOM_PREFIX):
        return room[len(ROOM_PREFIX) :]
    return None


class LiveKitGateway:
    """Places calls through LiveKit SIP with a LiveKit agent, one room per attempt."""

    #: LiveKit's create takes no idempotency key. A repeated dial is answered from the
    #: room record while the room lives, but that is not a promise across its lifetime.
    supports_idempotency = False

    def __init__(
        self, settings: LiveKitSettings, callback_url: str, *, clock_now: Callable[[], datetime]
    ) -> None:
        self.settings = settings
        self.callback_url = callback_url
        self._now = clock_now
        self._api: LiveKitAPI | None = None
        self._receiver = WebhookReceiver(TokenVerifier(settings.api_key, settings.api_secret))
        #: the agent-join deadlines of calls this process placed
        self._watchers: set[asyncio.Task[None]] = set()

    def _client(self) -> LiveKitAPI:
        # Built on first use, inside the running loop: its aiohttp session belongs to it.
        # failover=False: the SDK would otherwise replay a create that failed with a 5xx
        # against another region, and the number could be dialled twice.
        if self._api is None:
            self._api = LiveKitAPI(
                self.settings.url,
                self.settings.api_key,
                self.settings.api_secret,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT.total_seconds()),
                failover=False,
            )
        return self._api

    # --- placing a call ------------------------------------------------------------------
    async def place_call(self, request: DialRequest) -> Accepted:
        """Dial ``request.to`` from a room of its own with the agent dispatched into it.

        Returns once the callee has answered. Raises ``DialEnded`` when the call ended
        unanswered. Raises ``GatewayRejected`` or ``GatewayUnavailable`` when nothing
        was dialled.
        """
        room = room_name(request.attempt_id)
        record: dict[str, Any] = {
            "attempt_id": request.attempt_id,
            "dispatched_at": self._now().isoformat(),
        }
        lk = self._client()
        try:
            existing = await lk.room.create_room(
                CreateRoomRequest(name=room, metadata=_dump(record))
            )
            # CreateRoom answers with a room that already exists as it is. If this attempt
            # already placed a call from it, that call is the answer.
            earlier = read_record(existing.metadata)
            if isinstance(earlier.get("call_id"), str):
                return Accepted(earlier["call_id"])
            await lk.agent_dispatch.create_dispatch(
                CreateAgentDispatchRequest(
                    agent_name=self.settings.agent_name,
                    room=room,
                    metadata=_dump(self._agent_metadata(request)),
                )
            )
        except ServerError as exc:
            await self._let_room_go(room)
            raise _refusal(exc, "LiveKit refused to prepare the call") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._let_room_go(room)
            raise GatewayUnavailable(f"LiveKit is unreachable: {exc!r}"[:300]) from None
        dial = CreateSIPParticipantRequest(
            sip_trunk_id=self.settings.sip_trunk_id,
            sip_call_to=request.to,
            sip_number=request.caller or "",
            room_name=room,
            participant_identity=CALLEE_IDENTITY,
            participant_attributes={"ringcast.attempt_id": request.attempt_id},
            ringing_timeout=duration_pb2.Duration(seconds=self.settings.ringing_timeout_s),
            max_call_duration=duration_pb2.Duration(seconds=self.settings.max_call_duration_s),
            wait_until_answered=True,
        )
        try:
            placed = await lk.sip.create_sip_participant(dial)
        except ServerError as exc:
            sip_status = _sip_status(exc)
            if sip_status is not None:
                # LiveKit dialled and the call failed: check the SIP status before the HTTP
                # status, since busy comes back as a 429 and declined as a 403.
                await self._let_room_go(room)
                raise DialEnded(self._dial_failure(request.attempt_id, sip_status, exc)) from None
            if 400 <= exc.status < 500 and exc.status != 408:  # 429 included: nothing dialled
                await self._let_room_go(room)
                raise _refusal(exc, "LiveKit refused the call") from None
            return await self._after_lost_answer(
                request.attempt_id, record, f"HTTP {exc.status} {exc.code}"
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return await self._after_lost_answer(request.attempt_id, record, repr(exc))
        return await self._placed(record, placed.sip_call_id, answered=True)

    def _agent_metadata(self, request: DialRequest) -> dict[str, Any]:
        return {
            "attempt_id": request.attempt_id,
            "callback_url": self.callback_url,
            "campaign_id": request.campaign_id,
            "agent_id": request.agent_id,
            "agent_version": request.agent_version,
            "to": request.to,
            "from": request.caller,
            "callee_identity": CALLEE_IDENTITY,
            "variables": dict(request.variables),
        }

    def _dial_failure(self, attempt_id: str, sip_status: int, exc: ServerError) -> CallResult:
        return CallResult(
            attempt_id,
            SIP_OUTCOMES.get(sip_status, Outcome.FAILED),
            self._now(),
            failure_reason=str(exc)[:500],
            provider_code=str(sip_status),
        )

    async def _after_lost_answer(
        self, attempt_id: str, record: dict[str, Any], why: str
    ) -> Accepted:
        """The create may have dialled although its answer never came: look for the callee
        before deciding anything."""
        room = room_name(attempt_id)
        pause = LOOKUP_PAUSE.total_seconds()
        for _ in range(LOOKUP_TRIES):
            try:
                listed = await self._participants(room)
            except _LOOKUP_ERRORS:
                await asyncio.sleep(pause)
                pause *= 2
                continue
            callee = _find(listed or (), ParticipantInfo.SIP)
            if callee is None:
                await self._let_room_go(room)
                raise GatewayUnavailable(f"LiveKit failed ({why}) and placed no call")
            status = callee.attributes.get("sip.callStatus", "")
            call_id = callee.attributes.get("sip.callID") or callee.sid
            log.warning("found a call whose create answer was lost", attempt=attempt_id, why=why)
            return await self._placed(record, call_id, answered=status in _ANSWERED_STATUSES)
        log.warning(
            "cannot tell whether LiveKit placed the call; reconciliation will",
            attempt=attempt_id,
            why=why,
        )
        return Accepted(room)

    async def _placed(self, record: dict[str, Any], call_id: str, *, answered: bool) -> Accepted:
        now = self._now().isoformat()
        record.update(placed_at=now, call_id=call_id)
        if answered:
            record["answered_at"] = now
        room = room_name(record["attempt_id"])
        try:
            await self._client().room.update_room_metadata(
                UpdateRoomMetadataRequest(room=room, metadata=_dump(record))
            )
        except _LOOKUP_ERRORS as exc:
            # The call is live either way. Without the record, LiveKit's webhooks cannot
            # end it: the agent's report or reconciliation will.
            log.warning("could not record the call in its room", room=room, error=repr(exc))
        task = asyncio.create_task(self._agent_deadline(record))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return Accepted(call_id)

    async def _agent_deadline(self, record: dict[str, Any]) -> None:
        """At the agent-join deadline, hang up a callee left alone with no agent."""
        dispatched_at = _instant(record.get("dispatched_at")) or self._now()
        due = dispatched_at + self.settings.agent_join_timeout - self._now()
        await asyncio.sleep(max(0.0, due.total_seconds()))
        room = room_name(record["attempt_id"])
        try:
            listed = await self._participants(room)
            if listed is None or _find(listed, ParticipantInfo.AGENT) is not None:
                return
            callee = _find(listed, ParticipantInfo.SIP)
            if callee is None or callee.attributes.get("sip.callStatus") == _HANGUP:
                return
            await self._end_without_agent(record)
        except _LOOKUP_ERRORS as exc:
            log.warning("could not check that the agent joined", room=room, error=repr(exc))

    async def _end_without_agent(self, record: dict[str, Any]) -> CallResult:
        """Record that no agent joined, then hang up. If the record cannot be written,
        the call is not hung up: without the record, ``room_finished`` would read as a
        completed call."""
        now = self._now()
        ended = {
            "outcome": Outcome.PROVIDER_ERROR.value,
            "code": "agent_never_joined",
            "reason": f"no agent joined within {self.settings.agent_join_timeout_s:g} s",
            "at": now.isoformat(),
        }
        record = {**record, "ended": ended}
        room = room_name(record["attempt_id"])
        await self._client().room.update_room_metadata(
            UpdateRoomMetadataRequest(room=room, metadata=_dump(record))
        )
        log.warning("no agent joined the call; hanging up", room=room)
        await self._let_room_go(room)
        return CallResult(
            record["attempt_id"],
            Outcome.PROVIDER_ERROR,
            now,
            gateway_call_id=_text(record.get("call_id")),
            failure_reason=ended["reason"],
            provider_code=ended["code"],
        )

    async def _participants(self, room: str) -> Sequence[ParticipantInfo] | None:
        """The room's participants, or None when the room is gone."""
        try:
            listed = await self._client().room.list_participants(ListParticipantsRequest(room=room))
        except ServerError as exc:
            if exc.status == 404:
                return None
            raise
        return list(listed.participants)

    async def _let_room_go(self, room: str) -> None:
        """Delete the room: this hangs up whoever is still in it (the callee's SIP leg,
        a waiting agent). Best effort: LiveKit closes an empty room by itself."""
        try:
            await self._client().room.delete_room(DeleteRoomRequest(room=room))
        except ServerError as exc:
            if exc.status != 404:
                log.warning("could not delete a room", room=room, status=exc.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not delete a room", room=room, error=repr(exc))

    # --- reconciliation -------------------------------------------------------------------
    async def call_state(self, attempt_id: str, now: datetime) -> CallResult | None:
        """What became of the attempt's call, as far as its room can tell (None: it
        cannot say, or the call is still live)."""
        room = room_name(attempt_id)
        try:
            rooms = await self._client().room.list_rooms(ListRoomsRequest(names=[room]))
            if not rooms.rooms:
                return None  # the call is over, and LiveKit keeps no record of how
            record = read_record(rooms.rooms[0].metadata)
            ended = _gateway_end(attempt_id, record, now)
            if ended is not None:
                await self._let_room_go(room)  # the hang-up that followed may have failed
                return ended
            listed = await self._participants(room)
            if listed is None:
                return None
            callee = _find(listed, ParticipantInfo.SIP)
            if callee is not None and callee.attributes.get("sip.callStatus") != _HANGUP:
                dispatched_at = _instant(record.get("dispatched_at"))
                if (
                    _find(listed, ParticipantInfo.AGENT) is None
                    and "answered_at" in record
                    and dispatched_at is not None
                    and now >= dispatched_at + self.settings.agent_join_timeout
                ):
                    return await self._end_without_agent(record)
                return None  # still on the line
        except _LOOKUP_ERRORS as exc:
            log.warning("could not reconcile a call", attempt=attempt_id, error=repr(exc))
            return None
        # The callee's leg is over and no final report came: let whoever is left go.
        await self._let_room_go(room)
        answered_at = _instant(record.get("answered_at"))
        if answered_at is None:
            return None  # never answered: the dial's own failure was the report
        return CallResult(
            attempt_id,
            Outcome.COMPLETED,
            now,
            answered_at=answered_at,
            gateway_call_id=_text(record.get("call_id")),
            provider_code="callee_left",
        )

    # --- reports --------------------------------------------------------------------------
    def read_callback(
        self,
        url: str,  # noqa: ARG002 - LiveKit signs the body, not the URL it was sent to
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> CallbackReading:
        """Check a report's signature over its exact bytes, then read it."""
        token = _header(headers, "authorization")
        if not token:
            raise SignatureInvalid("no Authorization header")
        token = token.removeprefix("Bearer ").strip()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureInvalid("the body is not the UTF-8 JSON LiveKit signs") from None
        try:
            # verifies the token and that its sha256 claim is this body's hash, and only
            # then parses the body
            event = self._receiver.receive(text, token)
        except json_format.ParseError as exc:
            raise CallbackMalformed(f"not a LiveKit webhook: {exc}"[:300]) from None
        except Exception:  # the SDK raises a bare Exception on a hash mismatch
            raise SignatureInvalid("the token or the body hash does not check out") from None
        if event.event == AGENT_REPORT_EVENT:
            return read_agent_report(text, now)
        return read_webhook(event, now)

    # --- lifetime -------------------------------------------------------------------------
    async def drain(self) -> None:
        """Wait for the agent-join deadlines of the calls this gateway placed."""
        while self._watchers:
            await asyncio.gather(*list(self._watchers), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop watching and close the SDK's HTTP session."""
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*list(self._watchers), return_exceptions=True)
        if self._api is not None:
            await self._api.aclose()
            self._api = None


# --- reading reports --------------------------------------------------------------------


def read_webhook(event: WebhookEvent, now: datetime) -> CallbackReading:
    """A verified LiveKit webhook in ringcast's words."""
    room = event.room if event.HasField("room") else event.job.room
    attempt_id = attempt_of(room.name)
    if attempt_id is None:
        return CallbackReading(None, None, None)
    # UNCONFIRMED: LiveKit puts the whole room, metadata included, in participant webhooks
    # as in room_finished (its telemetry sends room.ToProto()). Without the metadata, a
    # callee's leg that fails after the answer reads as progress and room_finished ends it.
    record = read_record(room.metadata)
    at = datetime.fromtimestamp(event.created_at, UTC) if event.created_at > 0 else now
    person = event.participant
    if event.event == "participant_joined":
        if person.kind == ParticipantInfo.SIP:
            status = person.attributes.get("sip.callStatus", "")
            return CallbackReading(
                attempt_id, None, ANSWERED if status in _ANSWERED_STATUSES else RINGING
            )
        if person.kind == ParticipantInfo.AGENT:
            return CallbackReading(attempt_id, None, IN_PROGRESS)
        return CallbackReading(attempt_id, None, None)
    if event.event == "participant_left":
        if person.kind == ParticipantInfo.SIP and "placed_at" in record:
            outcome = LEG_FAILURES.get(person.disconnect_reason)
            if outcome is Outcome.DROPPED and "answered_at" not in record:
                outcome = Outcome.FAILED  # it never connected, so it cannot have dropped
            if outcome is not None:
                reason = DisconnectReason.Name(person.disconnect_reason)
                return CallbackReading(
                    attempt_id,
                    CallResult(
                        attempt_id,
                        outcome,
                        at,
                        gateway_call_id=_text(record.get("call_id")),
                        failure_reason=f"the callee's leg ended: {reason}",
                        provider_code=reason,
                    ),
                    None,
                )
        return CallbackReading(attempt_id, None, IN_PROGRESS)
    if event.event == "room_finished":
        return CallbackReading(attempt_id, _recorded_end(attempt_id, record, at), None)
    return CallbackReading(attempt_id, None, None)


def _recorded_end(attempt_id: str, record: Mapping[str, Any], at: datetime) -> CallResult | None:
    """How ``room_finished`` ends the attempt: the gateway's own end, or, for an answered
    call nobody reported on, ``completed``."""
    ended = _gateway_end(attempt_id, record, at)
    if ended is not None:
        return ended
    answered_at = _instant(record.get("answered_at"))
    if answered_at is None:
        return None
    return CallResult(
        attempt_id,
        Outcome.COMPLETED,
        at,
        answered_at=answered_at,
        duration=max(at - answered_at, timedelta(0)),
        gateway_call_id=_text(record.get("call_id")),
        provider_code="room_finished",
    )


def _gateway_end(attempt_id: str, record: Mapping[str, Any], at: datetime) -> CallResult | None:
    """The end the gateway wrote into the room record (``ended``), if any."""
    ended = record.get("ended")
    if not isinstance(ended, dict):
        return None
    try:
        outcome = Outcome(str(ended.get("outcome")))
    except ValueError:
        outcome = Outcome.PROVIDER_ERROR
    return CallResult(
        attempt_id,
        outcome,
        _instant(ended.get("at")) or at,
        gateway_call_id=_text(record.get("call_id")),
        failure_reason=_text(ended.get("reason")),
        provider_code=_text(ended.get("code")),
    )


def read_agent_report(text: str, now: datetime) -> CallbackReading:
    """The agent's verified report (the payload in the module docstring) as the end."""
    try:
        report = json.loads(text)
    except ValueError:
        raise CallbackMalformed("the agent's report is not JSON") from None
    if not isinstance(report, dict):
        raise CallbackMalformed("the agent's report must be a JSON object")
    attempt_id = report.get("attempt_id")
    if not isinstance(attempt_id, str) or not attempt_id:
        raise CallbackMalformed("the agent's report has no attempt_id")
    try:
        outcome = Outcome(str(report.get("outcome")))
    except ValueError:
        outcome = None
    if outcome not in AGENT_OUTCOMES:
        raise CallbackMalformed(f"outcome must be one of {', '.join(sorted(AGENT_OUTCOMES))}")
    answered_by = report.get("answered_by")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise CallbackMalformed(f"answered_by must be one of {', '.join(sorted(ANSWERED_BY))}")
    duration_s = report.get("duration_s")
    duration = (
        timedelta(seconds=float(duration_s))
        if isinstance(duration_s, int | float) and not isinstance(duration_s, bool)
        else None
    )
    ended_at = _instant(report.get("ended_at")) or now
    answered_at = _instant(report.get("answered_at"))
    if answered_at is None and duration is not None:
        answered_at = ended_at - duration
    qualifiers = report.get("qualifiers")
    transcript = report.get("transcript")
    extracted = report.get("extracted")
    return CallbackReading(
        attempt_id,
        CallResult(
            attempt_id,
            outcome,
            ended_at,
            answered_at=answered_at,
            duration=duration,
            qualifiers=frozenset(str(q) for q in qualifiers)
            if isinstance(qualifiers, list)
            else frozenset(),
            transcript=tuple(t for t in transcript if isinstance(t, dict))
            if isinstance(transcript, list)
            else (),
            summary=_text(report.get("summary")),
            extracted=extracted if isinstance(extracted, dict) else {},
            answered_by=answered_by,
            provider_code=_text(report.get("code")),
        ),
        None,
    )


# --- the agent's side -----------------------------------------------------------------


def agent_report_payload(
    attempt_id: str,
    outcome: str,
    *,
    answered_by: str | None = None,
    amd_category: str | None = None,
    answered_at: datetime | None = None,
    ended_at: datetime | None = None,
    duration_s: float | None = None,
    qualifiers: Iterable[str] = (),
    transcript: Sequence[Mapping[str, Any]] = (),
    summary: str | None = None,
    extracted: Mapping[str, Any] | None = None,
) -> bytes:
    """The body of the agent's report (see the module docstring), for ringcast's
    callback URL. ``amd_category`` is LiveKit Agents' answering-machine verdict
    (``human``, ``machine-vm``...): it is kept as the report's ``code`` and, unless
    ``answered_by`` is given, sets it."""
    if Outcome(outcome) not in AGENT_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(sorted(AGENT_OUTCOMES))}")
    if answered_by is None and amd_category is not None:
        answered_by = AMD_ANSWERED_BY.get(amd_category, "unknown")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise ValueError(f"answered_by must be one of {', '.join(sorted(ANSWERED_BY))}")
    return json.dumps(
        {
            "event": AGENT_REPORT_EVENT,
            "attempt_id": attempt_id,
            "outcome": outcome,
            "answered_by": answered_by,
            "code": amd_category,
            "answered_at": answered_at.isoformat() if answered_at else None,
            "ended_at": ended_at.isoformat() if ended_at else None,
            "duration_s": duration_s,
            "qualifiers": sorted(set(qualifiers)),
            "transcript": [dict(t) for t in transcript],
            "summary": summary,
            "extracted": dict(extracted or {}),
        },
        separators=(",", ":"),
        default=str,
    ).encode()


def agent_report_headers(
    body: bytes, api_key: str, api_secret: str, ttl: timedelta = timedelta(minutes=5)
) -> dict[str, str]:
    """Headers that sign ``body`` the way LiveKit signs its webhooks: a JWT made with the
    project's key pair whose ``sha256`` claim is the body's hash."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = AccessToken(api_key, api_secret).with_sha256(digest).with_ttl(ttl).to_jwt()
    return {"Authorization": token, "Content-Type": "application/json"}


# --- small helpers ----------------------------------------------------------------------


def read_record(metadata: str) -> dict[str, Any]:
    """A room's metadata as the room record (empty when it is not one)."""
    try:
        record = json.loads(metadata) if metadata else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _dump(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _sip_status(exc: ServerError) -> int | None:
    raw = exc.metadata.get("sip_status_code")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _refusal(exc: ServerError, what: str) -> GatewayError:
    """A Twirp error that names no SIP status, as a gateway error: 429, a timeout and
    5xx mean try again later, other 4xx mean this call as asked will not be placed."""
    detail = f"{what}: HTTP {exc.status} {exc.code}: {exc.message}"[:300]
    if exc.status in (408, 429) or exc.status >= 500:
        return GatewayUnavailable(detail)
    return GatewayRejected(detail)


def _find(participants: Iterable[ParticipantInfo], kind: int) -> ParticipantInfo | None:
    return next((p for p in participants if p.kind == kind), None)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
