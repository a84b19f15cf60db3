"""The ``http`` gateway: a self-hosted voice-agent runtime reached over HTTP.

ringcast POSTs a dial request to ``{url}/calls``::

    {"attempt_id", "to", "from", "connection_id", "campaign_id", "agent_id",
     "agent_version", "variables", "voicemail", "callback_url"}

``voicemail`` is the campaign's answering-machine policy, ``{"action": "agent" | "hangup"
| "leave_message", "message_text", "message_audio_url"}``: the runtime carries it out.

signed with Standard Webhooks headers (``webhook-id`` is the attempt id, which is also
the idempotency key: a runtime that sees it twice must not place a second call). A 2xx
answer accepts the call (``{"call_id"}`` optional); a 4xx refuses it (the attempt ends
``failed``); a 5xx, a refused connection or no answer within the timeout means nothing
was placed (``provider_error``). The runtime reports what happens to the callback URL,
signed with the same secret (see ``api/native/gateway.py``); a call it never reports on
ends ``internal_error`` when its call lease runs out, unless ``GET {url}/calls/{id}``
says how it ended.

A connection's runtime URL is the customer's: its gateway is built ``guard=True`` and
sends both the dial and the reconciliation question through ``ringcast.egress``'s client
(the name resolved once, vetted, connected to as checked). The deployment's own runtime
(``RINGCAST_HTTP_GATEWAY_URL``) is the operator's and may be on a private network.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import httpx

from ringcast import egress, signing
from ringcast.core import bounds
from ringcast.core.errors import FieldError
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.egress import AddressRefused
from ringcast.gateways._wire import instant
from ringcast.gateways.base import (
    Accepted,
    CallGateway,
    DialRequest,
    GatewayRejected,
    GatewayUnavailable,
    voicemail_json,
)
from ringcast.records import CallRecord

#: The runtime's answer to a dial request must come within this.
DIAL_TIMEOUT = timedelta(seconds=5)
#: Where the runtime reports, under ringcast's public URL.
CALLBACK_PATH = "/ringcast/v1/gateway/events"


class HttpGateway(CallGateway):
    supports_idempotency = True  # the attempt id travels as webhook-id

    def __init__(
        self,
        url: str,
        secret: str,
        callback_url: str,
        client: httpx.AsyncClient | None = None,
        timeout: timedelta = DIAL_TIMEOUT,
        *,
        guard: bool = False,
        allow_private: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        #: send through egress's client: set for a URL a customer gave (a connection),
        #: not for the deployment's own runtime
        self.guard = guard
        self.allow_private = allow_private
        self.secret = secret
        self.callback_url = callback_url
        if client is None:
            client = egress.client(allow_private) if guard else httpx.AsyncClient()
        self.client = client
        self.timeout = timeout

    async def aclose(self) -> None:
        """Close the HTTP client (a gateway replaced by new settings)."""
        await self.client.aclose()

    def _headers(self, msg_id: str, body: bytes) -> dict[str, str]:
        # The runtime checks the stamp against its own clock, whatever clock we run on.
        return {
            "content-type": "application/json",
            **signing.headers(msg_id, body, self.secret, signing.wall_clock()),
        }

    async def place_call(self, request: DialRequest) -> Accepted:
        body = json.dumps(
            {
                "attempt_id": request.attempt_id,
                "to": request.to,
                "from": request.caller,
                "connection_id": request.connection_id,
                "campaign_id": request.campaign_id,
                "agent_id": request.agent_id,
                "agent_version": request.agent_version,
                "variables": dict(request.variables),
                "voicemail": voicemail_json(request.voicemail),
                "callback_url": self.callback_url,
            },
            separators=(",", ":"),
        ).encode()
        try:
            response = await self.client.post(
                f"{self.url}/calls",
                content=body,
                headers=self._headers(request.attempt_id, body),
                timeout=self.timeout.total_seconds(),
            )
        except AddressRefused as exc:
            egress.log_refusal(exc, attempt=request.attempt_id)
            raise GatewayRejected(str(exc)) from None
        except httpx.TimeoutException:
            raise GatewayUnavailable(
                f"the runtime did not answer within {self.timeout.total_seconds():g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise GatewayUnavailable(f"the runtime is unreachable: {exc!r}"[:300]) from None
        if 400 <= response.status_code < 500:
            raise GatewayRejected(f"the runtime refused the call: HTTP {response.status_code}")
        if not response.is_success:
            raise GatewayUnavailable(f"the runtime failed: HTTP {response.status_code}")
        try:
            call_id = str(response.json().get("call_id") or request.attempt_id)
        except (ValueError, AttributeError):
            call_id = request.attempt_id
        return Accepted(call_id)

    async def call_state(
        self,
        attempt_id: str,
        now: datetime,
        call: CallRecord | None = None,  # noqa: ARG002 (the runtime knows its calls by id)
    ) -> CallResult | None:
        """How the call ended, if the runtime knows (None: it does not say, or its URL
        now resolves to an address the guard refuses)."""
        try:
            response = await self.client.get(
                f"{self.url}/calls/{attempt_id}", timeout=self.timeout.total_seconds()
            )
            data = response.json() if response.is_success else None
        except AddressRefused as exc:
            egress.log_refusal(exc, attempt=attempt_id)
            return None
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("event") not in ("completed", "failed"):
            return None
        return result_from_event(attempt_id, data, now)


#: The longest call a runtime may report; a longer duration is the runtime's error.
MAX_CALL_DURATION = timedelta(hours=24)
#: How far ahead of ringcast's clock a runtime's timestamps may run (clock skew).
MAX_CLOCK_AHEAD = timedelta(days=1)
#: The most transcript entries one report may carry.
MAX_TRANSCRIPT_ENTRIES = 10_000


def report_problems(event: dict[str, object], now: datetime) -> list[FieldError]:
    """What is wrong with a runtime's report, field by field (empty: nothing).

    Each rule is what the end write and the call's views can hold: a NaN, negative or
    day-long duration, a time in year 9999 or a transcript entry that is not an object
    made the end fail and left the call in progress."""
    problems = []
    for field in ("at", "answered_at"):
        value = event.get(field)
        if value is None:
            continue
        at = instant(value)
        if at is None:
            problems.append(FieldError(field, value, "must be an ISO 8601 time with its offset"))
        elif not bounds.instant_in_range(at) or at > now + MAX_CLOCK_AHEAD:
            problems.append(
                FieldError(field, value, "must be a real time, at most a day ahead of ringcast's")
            )
    duration = event.get("duration_s")
    if duration is not None and not (
        isinstance(duration, int | float)
        and not isinstance(duration, bool)
        and math.isfinite(duration)
        and 0 <= duration <= MAX_CALL_DURATION.total_seconds()
    ):
        limit = int(MAX_CALL_DURATION.total_seconds())
        problems.append(
            FieldError("duration_s", duration, f"must be a number of seconds from 0 to {limit}")
        )
    transcript = event.get("transcript")
    if transcript is not None and not (
        isinstance(transcript, list)
        and len(transcript) <= MAX_TRANSCRIPT_ENTRIES
        and all(isinstance(entry, dict) for entry in transcript)
    ):
        problems.append(
            FieldError(
                "transcript",
                transcript,
                f"must be a list of at most {MAX_TRANSCRIPT_ENTRIES} objects",
            )
        )
    qualifiers = event.get("qualifiers")
    if qualifiers is not None and not (
        isinstance(qualifiers, list) and all(isinstance(q, str) for q in qualifiers)
    ):
        problems.append(FieldError("qualifiers", qualifiers, "must be a list of strings"))
    extracted = event.get("extracted")
    if extracted is not None and not isinstance(extracted, dict):
        problems.append(FieldError("extracted", extracted, "must be an object"))
    return problems


def result_from_event(attempt_id: str, event: dict[str, object], now: datetime) -> CallResult:
    """A runtime's ``completed`` or ``failed`` report as a call result.

    Fields ``report_problems`` refuses are left out, so even a malformed report ends the
    call (the end time is then ringcast's own, the duration unknown)."""
    refused = {p.field for p in report_problems(event, now)}
    event = {k: v for k, v in event.items() if k not in refused}
    ended_at = instant(event.get("at")) or now
    if event.get("event") == "failed":
        reason = str(event.get("reason") or "failed")
        outcome = _FAILURES.get(reason, Outcome.FAILED)
        return CallResult(attempt_id, outcome, ended_at, failure_reason=reason[:500])
    duration = event.get("duration_s")
    seconds = float(duration) if isinstance(duration, int | float) else 0.0
    qualifiers = event.get("qualifiers")
    transcript = event.get("transcript")
    extracted = event.get("extracted")
    return CallResult(
        attempt_id,
        Outcome.COMPLETED,
        ended_at,
        answered_at=instant(event.get("answered_at")) or ended_at - timedelta(seconds=seconds),
        duration=timedelta(seconds=seconds),
        qualifiers=frozenset(str(q) for q in qualifiers)
        if isinstance(qualifiers, list)
        else frozenset(),
        transcript=tuple(transcript) if isinstance(transcript, list) else (),
        extracted=extracted if isinstance(extracted, dict) else {},
    )


#: failure reasons a runtime may report, in ringcast's vocabulary
_FAILURES = {
    "no_answer": Outcome.NO_ANSWER,
    "busy": Outcome.BUSY,
    "voicemail": Outcome.VOICEMAIL,
    "rejected": Outcome.REJECTED,
    "unreachable": Outcome.UNREACHABLE,
    "provider_error": Outcome.PROVIDER_ERROR,
}
