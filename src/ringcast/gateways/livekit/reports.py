"""What LiveKit and the agent report on a call, and the room record both are read with.

The room record is ringcast's note of the attempt at LiveKit: JSON in the room's metadata
(``attempt_id``, ``dispatched_at``; once the callee is dialled ``placed_at``, ``call_id``
and ``answered_at``; ``ended`` when the gateway itself ended the call). LiveKit puts the
room in its webhooks, so a process that never dialled reads the call's state from them.

``Reports.read`` checks the ``Authorization`` JWT with
``livekit.api.WebhookReceiver(TokenVerifier(api_key, api_secret))`` (its ``sha256`` claim
must be the raw body's hash) before it parses anything; the agent's report
(``ringcast.gateways.livekit_agent``) is signed the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import json_format
from livekit.api import TokenVerifier, WebhookReceiver
from livekit.protocol.models import DisconnectReason, ParticipantInfo
from livekit.protocol.webhook import WebhookEvent

from ringcast import jsontext
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways._wire import header, instant, signed_text, text
from ringcast.gateways.base import CallbackReading, CallbackUnreadable, SignatureInvalid
from ringcast.gateways.livekit_agent import AGENT_OUTCOMES, AGENT_REPORT_EVENT, ANSWERED_BY

#: Rooms ringcast makes are named after the attempt: ``rc-<attempt_id>``.
ROOM_PREFIX = "rc-"
#: Progress values ``read`` gives (none of them ends the attempt).
RINGING, ANSWERED, IN_PROGRESS = "ringing", "answered", "in_progress"

#: ``sip.callStatus`` values that mean the callee picked up.
ANSWERED_STATUSES = frozenset({"active", "automation"})
HANGUP = "hangup"

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


def room_name(attempt_id: str) -> str:
    return f"{ROOM_PREFIX}{attempt_id}"


def attempt_of(room: str) -> str | None:
    """The attempt a room was made for, or None for a room ringcast did not make."""
    if room.startswith(ROOM_PREFIX) and len(room) > len(ROOM_PREFIX):
        return room[len(ROOM_PREFIX) :]
    return None


def read_record(metadata: str) -> dict[str, Any]:
    """A room's metadata as the room record (empty when it is not one)."""
    try:
        record = json.loads(metadata) if metadata else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def dump(value: Mapping[str, Any]) -> str:
    """A room record or a dispatch's metadata, as the JSON LiveKit stores."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def find(participants: Iterable[ParticipantInfo], kind: int) -> ParticipantInfo | None:
    """The first participant of this kind (``ParticipantInfo.SIP``, ``.AGENT``)."""
    return next((p for p in participants if p.kind == kind), None)


class Reports:
    """Reads the reports of one connection, verified with its API key pair."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._receiver = WebhookReceiver(TokenVerifier(api_key, api_secret))

    def read(self, headers: Mapping[str, str], body: bytes, now: datetime) -> CallbackReading:
        """Check a report's signature over its exact bytes, then read it."""
        token = (header(headers, "authorization") or "").removeprefix("Bearer ").strip()
        if not token:
            raise SignatureInvalid("no Authorization header")
        raw = signed_text(body)
        try:
            # verifies the token and that its sha256 claim is this body's hash, and only
            # then parses the body
            event = self._receiver.receive(raw, token)
        except json_format.ParseError as exc:
            raise CallbackUnreadable(f"not a LiveKit webhook: {exc}"[:300]) from None
        except Exception:  # the SDK raises a bare Exception on a hash mismatch
            raise SignatureInvalid("the token or the body hash does not check out") from None
        if event.event == AGENT_REPORT_EVENT:
            return read_agent_report(raw, now)
        return read_webhook(event, now)


def read_webhook(event: WebhookEvent, now: datetime) -> CallbackReading:
    """A verified LiveKit webhook in ringcast's words."""
    room = event.room if event.HasField("room") else event.job.room
    attempt_id = attempt_of(room.name)
    if attempt_id is None:
        return CallbackReading(None)
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
                attempt_id, progress=ANSWERED if status in ANSWERED_STATUSES else RINGING
            )
        if person.kind == ParticipantInfo.AGENT:
            return CallbackReading(attempt_id, progress=IN_PROGRESS)
        return CallbackReading(attempt_id)
    if event.event == "participant_left":
        if person.kind == ParticipantInfo.SIP and "placed_at" in record:
            ended = _leg_failure(attempt_id, person, record, at)
            if ended is not None:
                return CallbackReading(attempt_id, final=ended)
        return CallbackReading(attempt_id, progress=IN_PROGRESS)
    if event.event == "room_finished":
        return CallbackReading(attempt_id, final=_recorded_end(attempt_id, record, at))
    return CallbackReading(attempt_id)


def _leg_failure(
    attempt_id: str, person: ParticipantInfo, record: Mapping[str, Any], at: datetime
) -> CallResult | None:
    """The end a callee's leg that failed after the dial brings (busy after answer...)."""
    outcome = LEG_FAILURES.get(person.disconnect_reason)
    if outcome is Outcome.DROPPED and "answered_at" not in record:
        outcome = Outcome.FAILED  # it never connected, so it cannot have dropped
    if outcome is None:
        return None
    reason = DisconnectReason.Name(person.disconnect_reason)
    return CallResult(
        attempt_id,
        outcome,
        at,
        gateway_call_id=text(record.get("call_id")),
        failure_reason=f"the callee's leg ended: {reason}",
        provider_code=reason,
    )


def _recorded_end(attempt_id: str, record: Mapping[str, Any], at: datetime) -> CallResult | None:
    """How ``room_finished`` ends the attempt: the gateway's own end, or, for an answered
    call nobody reported on, ``completed``."""
    ended = gateway_end(attempt_id, record, at)
    if ended is not None:
        return ended
    answered_at = instant(record.get("answered_at"))
    if answered_at is None:
        return None
    return CallResult(
        attempt_id,
        Outcome.COMPLETED,
        at,
        answered_at=answered_at,
        duration=max(at - answered_at, timedelta(0)),
        gateway_call_id=text(record.get("call_id")),
        provider_code="room_finished",
    )


def gateway_end(attempt_id: str, record: Mapping[str, Any], at: datetime) -> CallResult | None:
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
        instant(ended.get("at")) or at,
        gateway_call_id=text(record.get("call_id")),
        failure_reason=text(ended.get("reason")),
        provider_code=text(ended.get("code")),
    )


def read_agent_report(raw: str, now: datetime) -> CallbackReading:
    """The agent's verified report (``ringcast.gateways.livekit_agent``) as the end."""
    try:
        report = jsontext.loads(raw)
    except ValueError:
        raise CallbackUnreadable("the agent's report is not JSON") from None
    if not isinstance(report, dict):
        raise CallbackUnreadable("the agent's report must be a JSON object")
    attempt_id = report.get("attempt_id")
    if not isinstance(attempt_id, str) or not attempt_id:
        raise CallbackUnreadable("the agent's report has no attempt_id")
    try:
        outcome = Outcome(str(report.get("outcome")))
    except ValueError:
        outcome = None
    if outcome not in AGENT_OUTCOMES:
        raise CallbackUnreadable(f"outcome must be one of {', '.join(sorted(AGENT_OUTCOMES))}")
    answered_by = report.get("answered_by")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise CallbackUnreadable(f"answered_by must be one of {', '.join(sorted(ANSWERED_BY))}")
    duration_s = report.get("duration_s")
    duration = (
        timedelta(seconds=float(duration_s))
        if isinstance(duration_s, int | float) and not isinstance(duration_s, bool)
        else None
    )
    ended_at = instant(report.get("ended_at")) or now
    answered_at = instant(report.get("answered_at"))
    if answered_at is None and duration is not None:
        answered_at = ended_at - duration
    qualifiers = report.get("qualifiers")
    transcript = report.get("transcript")
    extracted = report.get("extracted")
    return CallbackReading(
        attempt_id,
        final=CallResult(
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
            summary=text(report.get("summary")),
            extracted=extracted if isinstance(extracted, dict) else {},
            answered_by=answered_by,
            provider_code=text(report.get("code")),
        ),
    )
