"""Placing LiveKit calls, watching for an agent that never joins, and reconciliation.

The theory of operation is in the package's docstring (``ringcast.gateways.livekit``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog
from google.protobuf import duration_pb2
from livekit.api import LiveKitAPI, ServerError
from livekit.protocol.agent_dispatch import CreateAgentDispatchRequest
from livekit.protocol.models import ParticipantInfo
from livekit.protocol.room import (
    CreateRoomRequest,
    DeleteRoomRequest,
    ListParticipantsRequest,
    ListRoomsRequest,
    UpdateRoomMetadataRequest,
)
from livekit.protocol.sip import CreateSIPParticipantRequest

from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways._wire import instant, text
from ringcast.gateways.base import (
    Accepted,
    CallbackReading,
    CallGateway,
    DialEnded,
    DialRequest,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    voicemail_json,
)
from ringcast.gateways.livekit.reports import (
    ANSWERED_STATUSES,
    HANGUP,
    SIP_OUTCOMES,
    Reports,
    dump,
    find,
    gateway_end,
    read_record,
    room_name,
)
from ringcast.gateways.livekit_agent import CALLEE_IDENTITY
from ringcast.gateways.provider_settings import LiveKitSettings
from ringcast.records import CallRecord

log = structlog.get_logger("ringcast.gateways.livekit")

#: Each API request but the dial itself must be answered within this. The dial waits
#: for the callee: the SDK gives it the ringing timeout plus a margin.
REQUEST_TIMEOUT = timedelta(seconds=10)
#: Tries at finding a call whose create answer was lost, and the first pause between them.
LOOKUP_TRIES = 3
LOOKUP_PAUSE = timedelta(milliseconds=200)

_LOOKUP_ERRORS = (ServerError, aiohttp.ClientError, TimeoutError)


class LiveKitGateway(CallGateway):
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
        self._reports = Reports(settings.api_key, settings.api_secret)
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
                CreateRoomRequest(name=room, metadata=dump(record))
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
                    metadata=dump(self._agent_metadata(request)),
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
            # The agent in the room hears the machine; it carries the policy out.
            "voicemail": voicemail_json(request.voicemail),
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
            callee = find(listed or (), ParticipantInfo.SIP)
            if callee is None:
                await self._let_room_go(room)
                raise GatewayUnavailable(f"LiveKit failed ({why}) and placed no call")
            status = callee.attributes.get("sip.callStatus", "")
            call_id = callee.attributes.get("sip.callID") or callee.sid
            log.warning("found a call whose create answer was lost", attempt=attempt_id, why=why)
            return await self._placed(record, call_id, answered=status in ANSWERED_STATUSES)
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
                UpdateRoomMetadataRequest(room=room, metadata=dump(record))
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
        dispatched_at = instant(record.get("dispatched_at")) or self._now()
        due = dispatched_at + self.settings.agent_join_timeout - self._now()
        await asyncio.sleep(max(0.0, due.total_seconds()))
        room = room_name(record["attempt_id"])
        try:
            listed = await self._participants(room)
            if listed is None or find(listed, ParticipantInfo.AGENT) is not None:
                return
            callee = find(listed, ParticipantInfo.SIP)
            if callee is None or callee.attributes.get("sip.callStatus") == HANGUP:
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
            UpdateRoomMetadataRequest(room=room, metadata=dump(record))
        )
        log.warning("no agent joined the call; hanging up", room=room)
        await self._let_room_go(room)
        return CallResult(
            record["attempt_id"],
            Outcome.PROVIDER_ERROR,
            now,
            gateway_call_id=text(record.get("call_id")),
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
    async def call_state(
        self,
        attempt_id: str,
        now: datetime,
        call: CallRecord | None = None,  # noqa: ARG002 - the room is named after the attempt
    ) -> CallResult | None:
        """What became of the attempt's call, as far as its room can tell (None: it
        cannot say, or the call is still live). Any process can ask: the room and its
        record are found by the attempt id alone."""
        room = room_name(attempt_id)
        try:
            rooms = await self._client().room.list_rooms(ListRoomsRequest(names=[room]))
            if not rooms.rooms:
                return None  # the call is over, and LiveKit keeps no record of how
            record = read_record(rooms.rooms[0].metadata)
            ended = gateway_end(attempt_id, record, now)
            if ended is not None:
                await self._let_room_go(room)  # the hang-up that followed may have failed
                return ended
            listed = await self._participants(room)
            if listed is None:
                return None
            callee = find(listed, ParticipantInfo.SIP)
            if callee is not None and callee.attributes.get("sip.callStatus") != HANGUP:
                dispatched_at = instant(record.get("dispatched_at"))
                if (
                    find(listed, ParticipantInfo.AGENT) is None
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
        answered_at = instant(record.get("answered_at"))
        if answered_at is None:
            return None  # never answered: the dial's own failure was the report
        return CallResult(
            attempt_id,
            Outcome.COMPLETED,
            now,
            answered_at=answered_at,
            gateway_call_id=text(record.get("call_id")),
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
        """Check a LiveKit webhook's or the agent's report's signature over its exact
        bytes, then read it (``reports``)."""
        return self._reports.read(headers, body, now)

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
