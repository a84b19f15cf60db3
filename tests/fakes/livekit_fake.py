"""A LiveKit server for tests: LiveKit's Twirp API and its signed webhooks, offline.

Wire format, as the SDK (``livekit-api``) and LiveKit speak it:

* requests are ``POST /twirp/livekit.<Service>/<Method>``. The body is the
  ``livekit-protocol`` request message, protobuf-encoded
  (``Content-Type: application/protobuf``, which the SDK sends; JSON is read too). The
  ``Authorization: Bearer <JWT>`` is checked with the test key pair and the grants each
  method needs;
* a 200 answer is the response message, encoded as the request was;
* an error is Twirp's JSON, ``{"code", "msg", "meta"}``, with the HTTP status Twirp gives
  that code. A failed SIP call carries ``meta.sip_status_code`` and ``meta.sip_status``,
  and its code is the gRPC code LiveKit maps the SIP status to (livekit/protocol
  ``livekit/sip.go``). So busy (486) comes back as ``resource_exhausted``, HTTP 429;
* webhooks are ``WebhookEvent`` as protobuf JSON, ``Content-Type: application/webhook+json``,
  ``Authorization: <JWT>`` made with ``AccessToken`` and a ``sha256`` claim of the body
  (livekit/protocol ``webhook/resource_url_notifier.go``).

The fake also plays the agent: it joins the room after the dispatch and sends the agent's
report with ringcast's own helper, to the ``callback_url`` in the dispatch metadata.

What each call does is scripted by the number dialled (``fake.scenarios[number]``,
``HUMAN`` when unlisted). The create plays everything up to the answer (or the failure).
``fake.play(attempt_id)`` plays the rest, reading the room record the gateway left in
the room's metadata, as LiveKit's ``room_finished`` would. Every webhook and report goes
into ``fake.deliveries``. It is also POSTed to its URL when ``post=True``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.api import AccessToken, SIPGrants, TokenVerifier, VideoGrants
from livekit.api.access_token import Claims
from livekit.protocol.agent_dispatch import AgentDispatch, CreateAgentDispatchRequest
from livekit.protocol.models import DisconnectReason, ParticipantInfo, Room
from livekit.protocol.room import (
    CreateRoomRequest,
    DeleteRoomRequest,
    DeleteRoomResponse,
    ListParticipantsRequest,
    ListParticipantsResponse,
    ListRoomsRequest,
    ListRoomsResponse,
    UpdateRoomMetadataRequest,
)
from livekit.protocol.sip import CreateSIPParticipantRequest, SIPParticipantInfo
from livekit.protocol.webhook import WebhookEvent

from ringcast.gateways.livekit import read_record
from ringcast.gateways.livekit_agent import agent_report_headers, agent_report_payload

API_KEY = "APItestkey"
API_SECRET = "test-secret-that-is-long-enough-for-hs256"
TRUNK_ID = "ST_testtrunk"
AGENT_NAME = "ringcast-test-agent"

# What the number dialled does.
HUMAN = "human"  #: answered by a person; the agent reports completed
MACHINE = "machine"  #: answered by voicemail; the agent reports voicemail
BUSY = "busy"  #: 486
NO_ANSWER = "no_answer"  #: 480
DECLINED = "declined"  #: 603
UNREACHABLE = "unreachable"  #: 404
FAILED = "failed"  #: 503 from the carrier
DUPLICATE_FINAL = "duplicate_final"  #: the agent's report and room_finished come twice
NO_FINAL = "no_final"  #: the callee hangs up; no report, no room_finished (agent stuck)
RINGING_AFTER_COMPLETED = "ringing_after_completed"  #: a stale ringing after the end
LOST_5XX = "lost_5xx"  #: the call is placed, then the create answers 503
LOST_RESET = "lost_reset"  #: the call is placed, then the connection is dropped
RATE_LIMITED = "rate_limited"  #: 429 with no SIP status; nothing placed
INVALID = "invalid"  #: 400 invalid_argument with no SIP status; nothing placed
BUSY_AFTER_ANSWER = "busy_after_answer"  #: answered, then the leg ends USER_REJECTED
AGENT_NEVER_JOINS = "agent_never_joins"  #: answered; the dispatched agent never comes

#: scenario -> (SIP status, reason phrase, Twirp code LiveKit maps it to, leg end reason)
SIP_FAILURES: dict[str, tuple[int, str, str, int]] = {
    BUSY: (486, "Busy Here", "resource_exhausted", DisconnectReason.USER_REJECTED),
    NO_ANSWER: (
        480,
        "Temporarily Unavailable",
        "resource_exhausted",
        DisconnectReason.USER_UNAVAILABLE,
    ),
    DECLINED: (603, "Decline", "permission_denied", DisconnectReason.USER_REJECTED),
    UNREACHABLE: (404, "Not Found", "not_found", DisconnectReason.SIP_TRUNK_FAILURE),
    FAILED: (503, "Service Unavailable", "failed_precondition", DisconnectReason.SIP_TRUNK_FAILURE),
}

#: Twirp error code -> HTTP status (twitchtv/twirp ``ServerHTTPStatusFromErrorCode``).
TWIRP_STATUS = {
    "canceled": 408,
    "invalid_argument": 400,
    "malformed": 400,
    "deadline_exceeded": 408,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "permission_denied": 403,
    "unauthenticated": 401,
    "resource_exhausted": 429,
    "failed_precondition": 412,
    "aborted": 409,
    "unimplemented": 501,
    "internal": 500,
    "unavailable": 503,
}


@dataclass(frozen=True)
class Scenario:
    kind: str = HUMAN
    talk: timedelta = timedelta(seconds=42)  #: how long the answered call lasts
    qualifiers: tuple[str, ...] = ("interested",)


@dataclass(frozen=True)
class Delivery:
    """One webhook or agent report, as it went on the wire."""

    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> str:
        return str(json.loads(self.body).get("event"))


class TwirpFault(Exception):
    def __init__(self, code: str, msg: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code, self.msg, self.meta = code, msg, meta or {}


class DropConnection(Exception):
    """Close the connection without answering (a reset after the work was done)."""


@dataclass
class FakeRoom:
    room: Room
    participants: dict[str, ParticipantInfo] = field(default_factory=dict)
    dispatch: CreateAgentDispatchRequest | None = None
    scenario: Scenario = field(default_factory=Scenario)


class FakeLiveKit:
    """LiveKit's API and webhooks for one test; a real HTTP server on 127.0.0.1."""

    def __init__(
        self, webhook_url: str, clock: Callable[[], datetime], *, post: bool = False
    ) -> None:
        self.webhook_url = webhook_url
        self.clock = clock
        self.post = post
        self.scenarios: dict[str, Scenario] = {}
        self.rooms: dict[str, FakeRoom] = {}
        self.requests: list[tuple[str, Message]] = []  #: every Twirp request, parsed
        self.placed: list[CreateSIPParticipantRequest] = []  #: every call it dialled
        self.call_ids: list[str] = []  #: their SIP call ids (``SCL_...``), in order
        self.deleted: list[str] = []  #: rooms deleted through the API
        self.deliveries: list[Delivery] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._verifier = TokenVerifier(API_KEY, API_SECRET)
        self._server: ThreadingHTTPServer | None = None

    # --- the HTTP server --------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FakeLiveKit]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output is not the place for an access log

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        size = int(http.headers.get("content-length") or 0)
        raw = http.rfile.read(size)
        as_json = (http.headers.get("content-type") or "").startswith("application/json")
        try:
            service, method = _route(http.path)
            handler, request_type = self._methods()[(service, method)]
            try:
                request = (
                    json_format.Parse(raw, request_type())
                    if as_json
                    else request_type.FromString(raw)
                )
            except (DecodeError, json_format.ParseError) as exc:
                raise TwirpFault("malformed", f"cannot read the request: {exc}") from None
            claims = self._claims(http.headers.get("authorization") or "")
            with self._lock:
                self.requests.append((method, request))
                answer = handler(claims, request)
        except TwirpFault as fault:
            body = json.dumps({"code": fault.code, "msg": fault.msg, "meta": fault.meta}).encode()
            _send(http, TWIRP_STATUS[fault.code], "application/json", body)
            return
        except DropConnection:
            http.close_connection = True
            http.connection.shutdown(socket.SHUT_RDWR)
            return
        if as_json:
            _send(http, 200, "application/json", json_format.MessageToJson(answer).encode())
        else:
            _send(http, 200, "application/protobuf", answer.SerializeToString())

    def _claims(self, authorization: str) -> Claims:
        token = authorization.removeprefix("Bearer ")
        try:
            return self._verifier.verify(token)
        except Exception as exc:  # PyJWT's errors, or a missing token
            raise TwirpFault("unauthenticated", f"invalid token: {exc}") from None

    def _methods(
        self,
    ) -> dict[tuple[str, str], tuple[Callable[[Claims, Any], Message], type[Message]]]:
        return {
            ("RoomService", "CreateRoom"): (self._create_room, CreateRoomRequest),
            ("RoomService", "ListRooms"): (self._list_rooms, ListRoomsRequest),
            ("RoomService", "DeleteRoom"): (self._delete_room, DeleteRoomRequest),
            ("RoomService", "UpdateRoomMetadata"): (
                self._update_metadata,
                UpdateRoomMetadataRequest,
            ),
            ("RoomService", "ListParticipants"): (self._list_participants, ListParticipantsRequest),
            ("AgentDispatchService", "CreateDispatch"): (
                self._create_dispatch,
                CreateAgentDispatchRequest,
            ),
            ("SIP", "CreateSIPParticipant"): (
                self._create_sip_participant,
                CreateSIPParticipantRequest,
            ),
        }

    # --- RoomService ------------------------------------------------------------------
    def _create_room(self, claims: Claims, req: CreateRoomRequest) -> Room:
        _grant(claims.video is not None and bool(claims.video.room_create), "roomCreate")
        known = self.rooms.get(req.name)
        if known is not None:  # LiveKit answers with the existing room, unchanged
            return known.room
        room = Room(
            sid=f"RM_{next(self._ids)}",
            name=req.name,
            metadata=req.metadata,
            empty_timeout=req.empty_timeout or 300,
            departure_timeout=req.departure_timeout or 20,
            creation_time=int(self.clock().timestamp()),
        )
        self.rooms[req.name] = FakeRoom(room)
        self._webhook("room_started", room)
        return room

    def _list_rooms(self, claims: Claims, req: ListRoomsRequest) -> ListRoomsResponse:
        _grant(claims.video is not None and bool(claims.video.room_list), "roomList")
        names = set(req.names)
        return ListRoomsResponse(
            rooms=[r.room for n, r in self.rooms.items() if not names or n in names]
        )

    def _delete_room(self, claims: Claims, req: DeleteRoomRequest) -> DeleteRoomResponse:
        _grant(claims.video is not None and bool(claims.video.room_create), "roomCreate")
        self.deleted.append(req.room)
        self._close_room(self._room(req.room), DisconnectReason.ROOM_DELETED)
        return DeleteRoomResponse()

    def _update_metadata(self, claims: Claims, req: UpdateRoomMetadataRequest) -> Room:
        self._room_admin(claims, req.room)
        fake = self._room(req.room)
        fake.room.metadata = req.metadata
        return fake.room

    def _list_participants(
        self, claims: Claims, req: ListParticipantsRequest
    ) -> ListParticipantsResponse:
        self._room_admin(claims, req.room)
        return ListParticipantsResponse(
            participants=list(self._room(req.room).participants.values())
        )

    # --- AgentDispatchService -------------------------------------------------------------
    def _create_dispatch(self, claims: Claims, req: CreateAgentDispatchRequest) -> AgentDispatch:
        self._room_admin(claims, req.room)
        if req.room not in self.rooms:
            self._create_room(_all_grants(), CreateRoomRequest(name=req.room))
        self.rooms[req.room].dispatch = req
        return AgentDispatch(
            id=f"AD_{next(self._ids)}",
            agent_name=req.agent_name,
            room=req.room,
            metadata=req.metadata,
        )

    # --- SIP ----------------------------------------------------------------------------
    def _create_sip_participant(
        self, claims: Claims, req: CreateSIPParticipantRequest
    ) -> SIPParticipantInfo:
        _grant(claims.sip is not None and claims.sip.call, "sip.call")
        if req.sip_trunk_id != TRUNK_ID:
            raise TwirpFault("not_found", "requested sip trunk does not exist")
        if not req.room_name or not req.participant_identity or not req.sip_call_to:
            raise TwirpFault("invalid_argument", "room, identity and number are required")
        scenario = self.scenarios.get(req.sip_call_to, Scenario())
        if scenario.kind == RATE_LIMITED:
            raise TwirpFault("resource_exhausted", "too many concurrent calls")
        if scenario.kind == INVALID:
            raise TwirpFault("invalid_argument", "invalid phone number")
        if req.room_name not in self.rooms:
            self._create_room(_all_grants(), CreateRoomRequest(name=req.room_name))
        fake = self.rooms[req.room_name]
        fake.scenario = scenario
        self.placed.append(req)
        call_id = f"SCL_{next(self._ids)}"
        self.call_ids.append(call_id)
        callee = ParticipantInfo(
            sid=f"PA_{next(self._ids)}",
            identity=req.participant_identity,
            kind=ParticipantInfo.SIP,
            state=ParticipantInfo.ACTIVE,
            joined_at=int(self.clock().timestamp()),
            attributes={
                **req.participant_attributes,
                "sip.callID": call_id,
                "sip.callStatus": "dialing",
                "sip.phoneNumber": req.sip_call_to,
                "sip.trunkID": req.sip_trunk_id,
                "sip.trunkPhoneNumber": req.sip_number,
            },
        )
        # A SIP participant joins its room as soon as it dials (livekit/sip#136).
        self._join(fake, callee)
        if fake.dispatch is not None and scenario.kind != AGENT_NEVER_JOINS:
            self._join(fake, _agent(fake.dispatch))
        failure = SIP_FAILURES.get(scenario.kind)
        if failure is not None:
            status, phrase, code, reason = failure
            self._leave(fake, callee.identity, reason)
            raise TwirpFault(
                code,
                f"sip status {status}: {phrase}",
                {"sip_status_code": str(status), "sip_status": phrase},
            )
        callee.attributes["sip.callStatus"] = "active"
        if scenario.kind == LOST_5XX:
            raise TwirpFault("unavailable", "the answer was lost on the way back")
        if scenario.kind == LOST_RESET:
            raise DropConnection
        return SIPParticipantInfo(
            participant_id=callee.sid,
            participant_identity=callee.identity,
            room_name=req.room_name,
            sip_call_id=call_id,
        )

    # --- after the answer -------------------------------------------------------------
    def play(self, attempt_id: str) -> None:
        """Play the rest of an answered call, as its scenario says."""
        with self._lock:
            fake = self.rooms[f"rc-{attempt_id}"]
            kind = fake.scenario.kind
            if kind == AGENT_NEVER_JOINS:
                return  # nothing happens until somebody hangs up
            if kind == BUSY_AFTER_ANSWER:
                self._leave(fake, "callee", DisconnectReason.USER_REJECTED)
                self._leave(fake, "agent", DisconnectReason.CLIENT_INITIATED)
                self._finish(fake)
                return
            self._leave(fake, "callee", DisconnectReason.CLIENT_INITIATED)
            if kind == NO_FINAL:
                return  # the agent hangs in the room and never reports
            self._agent_report(fake)
            if kind == DUPLICATE_FINAL:
                self._agent_report(fake)
            self._leave(fake, "agent", DisconnectReason.CLIENT_INITIATED)
            self._finish(fake)
            if kind == DUPLICATE_FINAL:
                self._webhook("room_finished", fake.room)
            if kind == RINGING_AFTER_COMPLETED:
                stale = ParticipantInfo(
                    identity="callee",
                    kind=ParticipantInfo.SIP,
                    attributes={"sip.callStatus": "ringing"},
                )
                self._webhook("participant_joined", fake.room, stale)

    def take_deliveries(self) -> list[Delivery]:
        with self._lock:
            taken, self.deliveries = self.deliveries, []
        return taken

    # --- what LiveKit does and says -------------------------------------------------------
    def _join(self, fake: FakeRoom, person: ParticipantInfo) -> None:
        fake.participants[person.identity] = person
        self._webhook("participant_joined", fake.room, person)

    def _leave(self, fake: FakeRoom, identity: str, reason: int) -> None:
        person = fake.participants.pop(identity, None)
        if person is None:
            return
        gone = ParticipantInfo()
        gone.CopyFrom(person)
        gone.state = ParticipantInfo.DISCONNECTED
        gone.disconnect_reason = reason
        if gone.kind == ParticipantInfo.SIP:
            gone.attributes["sip.callStatus"] = "hangup"
        self._webhook("participant_left", fake.room, gone)

    def _close_room(self, fake: FakeRoom, reason: int) -> None:
        for identity in list(fake.participants):
            self._leave(fake, identity, reason)
        self._finish(fake)

    def _finish(self, fake: FakeRoom) -> None:
        self.rooms.pop(fake.room.name, None)
        self._webhook("room_finished", fake.room)

    def _agent_report(self, fake: FakeRoom) -> None:
        assert fake.dispatch is not None
        job = json.loads(fake.dispatch.metadata)
        record = read_record(fake.room.metadata)
        machine = fake.scenario.kind == MACHINE
        talk = timedelta(seconds=8) if machine else fake.scenario.talk
        answered_at = datetime.fromisoformat(record["answered_at"])
        body = agent_report_payload(
            job["attempt_id"],
            "voicemail" if machine else "completed",
            amd_category="machine-vm" if machine else "human",
            answered_at=answered_at,
            ended_at=answered_at + talk,
            duration_s=talk.total_seconds(),
            qualifiers=() if machine else fake.scenario.qualifiers,
            transcript=[{"role": "agent", "text": f"Hello {job['variables'].get('name', '')}"}],
            summary=None if machine else "The callee is interested.",
            extracted={} if machine else {"email": "p@example.com"},
        )
        self._deliver(job["callback_url"], agent_report_headers(body, API_KEY, API_SECRET), body)

    def _webhook(self, kind: str, room: Room, person: ParticipantInfo | None = None) -> None:
        self._deliver(*self._signed(kind, room, person))

    def signed_webhook(self, kind: str, room_name: str) -> Delivery:
        """A webhook about any room, signed as LiveKit signs it (not delivered)."""
        return Delivery(*self._signed(kind, Room(name=room_name), None))

    def _signed(
        self, kind: str, room: Room, person: ParticipantInfo | None
    ) -> tuple[str, dict[str, str], bytes]:
        event = WebhookEvent(
            event=kind,
            id=f"EV_{next(self._ids)}",
            created_at=int(self.clock().timestamp()),
            room=room,
        )
        if person is not None:
            event.participant.CopyFrom(person)
        body = json_format.MessageToJson(event, indent=None).encode()
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
        token = (
            AccessToken(API_KEY, API_SECRET)
            .with_sha256(digest)
            .with_ttl(timedelta(minutes=5))
            .to_jwt()
        )
        headers = {
            "Authorization": token,
            "Content-Type": "application/webhook+json",
            "User-Agent": "Go-http-client/1.1",
        }
        return self.webhook_url, headers, body

    def _deliver(self, url: str, headers: dict[str, str], body: bytes) -> None:
        self.deliveries.append(Delivery(url, headers, body))
        if not self.post:
            return
        # LiveKit drops a webhook it cannot deliver after its retries; so does the fake.
        with contextlib.suppress(OSError):  # URLError and HTTPError are OSErrors
            urllib.request.urlopen(
                urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=5
            ).close()

    def _room(self, name: str) -> FakeRoom:
        fake = self.rooms.get(name)
        if fake is None:
            raise TwirpFault("not_found", "requested room does not exist")
        return fake

    @staticmethod
    def _room_admin(claims: Claims, room: str) -> None:
        video = claims.video
        _grant(video is not None and bool(video.room_admin) and video.room == room, "roomAdmin")


def _route(path: str) -> tuple[str, str]:
    prefix = "/twirp/livekit."
    if not path.startswith(prefix) or path.count("/") != 3:
        raise TwirpFault("bad_route", f"no handler for path {path}")
    service, method = path[len(prefix) :].split("/")
    return service, method


def _grant(held: bool, name: str) -> None:
    if not held:
        raise TwirpFault("permission_denied", f"the token lacks the {name} grant")


def _all_grants() -> Claims:
    """What LiveKit itself may do (make a room a request names but did not create)."""
    return Claims(video=VideoGrants(room_create=True, room_admin=True), sip=SIPGrants(call=True))


def _agent(dispatch: CreateAgentDispatchRequest) -> ParticipantInfo:
    return ParticipantInfo(
        sid="PA_agent",
        identity="agent",
        kind=ParticipantInfo.AGENT,
        state=ParticipantInfo.ACTIVE,
        metadata=dispatch.metadata,
        attributes={"lk.agent.name": dispatch.agent_name},
    )


def _send(http: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
    try:
        http.send_response(status)
        http.send_header("content-type", content_type)
        http.send_header("content-length", str(len(body)))
        http.end_headers()
        http.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client stopped waiting
