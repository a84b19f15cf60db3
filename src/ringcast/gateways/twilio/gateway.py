"""Placing Twilio calls once, and finding out what became of them.

Each dial is one ``calls.create`` through the official SDK, pointed at the connection's
``api_base_url`` (so a test points it at a local fake), with the SDK's HTTP retries off:
Twilio takes no idempotency key, so a create sent twice may ring the callee twice.

A create whose answer was lost (a 5xx, a timeout, a connection dropped after the request
went out) may have placed the call. It is looked up before anything else is decided: the
recent calls to the number from the caller number, confirmed by the create request each
call's Events log recorded (see ``_find_placed``). Found: the dial is accepted under the
found call's sid. Not found: nothing was placed (``GatewayUnavailable``). Could not look:
the call is presumed placed (the attempt id stands for its sid), because dialling a
second time is worse than waiting for the call lease; ``call_state`` looks again then.

Reconciliation (``call_state``) fetches the call (``calls(sid).fetch()``). The sid is
this process's memory of its own dials, or the store's record of the attempt; a process
that did not place the call finds it the way a lost create is found, from the number and
caller number in the store's record, since the attempt id is in the status callback URL
Twilio recorded and nowhere Twilio can be asked for it.

Errors at the boundary::

    400-class refusal of this call (invalid number, geo permissions, ...)  GatewayRejected
    429, 5xx with no call found, Twilio unreachable, credentials refused   GatewayUnavailable
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

# The SDK ships no type information (no py.typed); its names are typed as Any here, and
# every value read from it is converted explicitly below.
from twilio.base.exceptions import (
    TwilioException,
    TwilioRestException,
    TwilioServiceException,
)
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from urllib3.exceptions import NewConnectionError

from ringcast.core.model import VoicemailAction, VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import (
    Accepted,
    CallbackReading,
    CallGateway,
    DialRequest,
    GatewayRejected,
    GatewayUnavailable,
)
from ringcast.gateways.provider_settings import TwilioSettings
from ringcast.gateways.twilio.reports import (
    Reports,
    amd_url,
    remember,
    result_from_call,
    status_url,
)
from ringcast.records import CallRecord

#: Twilio's own API host: what ``api_base_url`` is when nothing else is said.
#: Every call-progress event Twilio can report: each one is progress or the call's end.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

#: How long one request to Twilio may take before its answer counts as lost.
REQUEST_TIMEOUT = timedelta(seconds=10)
#: How many times a lost create is looked up, and the pause before the second look
#: (doubled before each further one): Twilio may list a call a moment after placing it.
LOOKUP_TRIES = 3
LOOKUP_BACKOFF = timedelta(seconds=0.5)
#: How many of the most recent calls to the number a lookup reads.
LOOKUP_CALLS = 20
#: Twilio's clock and ours may disagree by this much: a call created this long before the
#: create was sent can still be the one it placed.
CLOCK_SKEW = timedelta(minutes=5)

#: a lookup's answer: the placed call's sid, False (Twilio lists no such call) or None
#: (Twilio could not be asked)
_Found = str | Literal[False] | None

_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class _Dialled:
    """What finds a call Twilio placed for an attempt: to, from, and since when."""

    to: str
    caller: str
    sent_at: datetime


class TwilioGateway(CallGateway):
    supports_idempotency = False  # Twilio takes no idempotency key; see place_call

    def __init__(
        self,
        settings: TwilioSettings,
        callback_url: str,
        *,
        clock_now: Callable[[], datetime],
        request_timeout: timedelta = REQUEST_TIMEOUT,
        lookup_backoff: timedelta = LOOKUP_BACKOFF,
    ) -> None:
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
            # The attempt id is appended as the query: the URL must not have one already.
            raise ValueError(f"the callback URL must be a plain http(s) URL: {callback_url}")
        self.settings = settings
        #: exactly as given to Twilio: the signatures are computed over it
        self.callback_url = callback_url.rstrip("/")
        self._now = clock_now
        self._lookup_backoff = lookup_backoff
        self._reports = Reports(settings.auth_token, self.callback_url)
        self._http = TwilioHttpClient(timeout=request_timeout.total_seconds(), max_retries=0)
        # The SDK mounts its no-retry adapter on https only; a loopback fake is plain http.
        # ``max_retries=0`` is requests' "never retry": no request is ever sent twice.
        self._http.session.mount("http://", HTTPAdapter(max_retries=0))
        self._client = Client(settings.account_sid, settings.auth_token, http_client=self._http)
        # The connection decides where requests go, not TWILIO_EDGE / TWILIO_REGION in the
        # process environment (the SDK would rewrite the host, fake or not, with them).
        self._client.edge = None
        self._client.region = None
        self._client.api.base_url = settings.api_base_url.rstrip("/")
        #: attempt id -> call sid, for reconciliation by the process that placed the call
        self._sids: OrderedDict[str, str] = OrderedDict()
        #: attempt id -> the dial of a create presumed placed, never confirmed
        self._unconfirmed: OrderedDict[str, _Dialled] = OrderedDict()

    # --- placing ------------------------------------------------------------------------
    async def place_call(self, request: DialRequest) -> Accepted:
        """Place the call once; a create whose answer was lost is looked up, not resent."""
        if not request.caller:
            raise GatewayRejected("a twilio call needs a caller number (From)")
        dialled = _Dialled(request.to, request.caller, self._now())
        try:
            sid = await asyncio.to_thread(self._create, dialled, request.attempt_id)
        except (TwilioRestException, TwilioServiceException) as exc:
            # Twilio's legacy error body and its RFC 9457 one; both carry status and code.
            status = int(exc.status)
            said = getattr(exc, "msg", None) or getattr(exc, "detail", None) or exc.title
            detail = f"HTTP {status}, Twilio error {exc.code}: {said}"[:300]
            if status == 429:
                raise GatewayUnavailable(f"twilio is rate limiting: {detail}") from None
            if status in (401, 403):
                # Nothing to do with this number: the connection's credentials are wrong.
                raise GatewayUnavailable(f"twilio refused the credentials: {detail}") from None
            if status < 500:
                raise GatewayRejected(f"twilio refused the call: {detail}") from None
            lost = f"twilio answered the create with {detail}"
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise GatewayUnavailable(f"twilio is unreachable: {exc!r}"[:300]) from None
            lost = f"the connection broke before twilio answered the create: {exc!r}"[:300]
        except (requests.RequestException, TwilioException, ValueError) as exc:
            # A timeout, or an answer that could not be read: the call may exist.
            lost = f"twilio's answer to the create was lost: {exc!r}"[:300]
        else:
            remember(self._sids, request.attempt_id, sid)
            return Accepted(sid)
        return await self._recover(request.attempt_id, dialled, lost)

    def status_url(self, attempt_id: str) -> str:
        """The status callback URL given to Twilio for this attempt."""
        return status_url(self.callback_url, attempt_id)

    def amd_url(self, attempt_id: str) -> str:
        """The answering-machine verdict's URL given to Twilio for this attempt."""
        return amd_url(self.callback_url, attempt_id)

    def _create(self, dialled: _Dialled, attempt_id: str) -> str:
        """``calls.create`` (blocking: run on a thread); the new call's sid."""
        s = self.settings
        # The settings hold exactly one of the two.
        answer = {"url": s.answer_url} if s.answer_url is not None else {"twiml": s.twiml or ""}
        amd: dict[str, str] = {}
        if s.machine_detection is not None:
            # Asynchronous detection: the callee hears the agent at once, the verdict
            # arrives on its own callback while the call goes on.
            amd = {
                "machine_detection": s.machine_detection,
                "async_amd": "true",  # the SDK takes Twilio's own spelling, a string
                "async_amd_status_callback": self.amd_url(attempt_id),
                "async_amd_status_callback_method": "POST",
            }
        call = self._client.calls.create(
            to=dialled.to,
            from_=dialled.caller,
            status_callback=self.status_url(attempt_id),
            status_callback_method="POST",
            status_callback_event=list(STATUS_EVENTS),
            timeout=s.ring_timeout_s,
            time_limit=s.time_limit_s,
            **answer,
            **amd,
        )
        return str(call.sid)

    async def _recover(self, attempt_id: str, dialled: _Dialled, lost: str) -> Accepted:
        """Decide a create whose answer was lost by looking for the call it may have placed."""
        found = await self._look_up(attempt_id, dialled, LOOKUP_TRIES)
        if found is False:
            raise GatewayUnavailable(f"{lost}; no call to this number was found")
        if found is None:
            # Twilio could not be asked: the call may ring. Presume it placed rather than
            # risk a second call; the lease's reconciliation looks again (call_state).
            remember(self._unconfirmed, attempt_id, dialled)
            return Accepted(attempt_id)
        remember(self._sids, attempt_id, found)
        return Accepted(found)

    async def _look_up(self, attempt_id: str, dialled: _Dialled, tries: int) -> _Found:
        """The placed call's sid; False when Twilio lists none; None when it cannot be asked."""
        answered = False
        pause = self._lookup_backoff
        for attempt in range(tries):
            if attempt:
                await asyncio.sleep(pause.total_seconds())
                pause *= 2
            try:
                sid = await asyncio.to_thread(self._find_placed, attempt_id, dialled)
            except (requests.RequestException, TwilioException, ValueError):
                continue
            answered = True
            if sid is not None:
                return sid
        return False if answered else None

    def _find_placed(self, attempt_id: str, dialled: _Dialled) -> str | None:
        """The sid of the call this attempt's create placed, if Twilio has it (blocking).

        Twilio's Call resource carries no metadata and not the status callback URL, so the
        candidates are the most recent calls to this number from this caller number created
        since the create was sent (less the clocks' skew). Twilio lists a call before it
        starts ringing, but a queued call has no ``start_time`` yet, which is why the date
        filter is ours, on ``date_created``, and not Twilio's ``StartTime>``. A candidate is
        confirmed by its Events log, which records the create request with its parameters:
        ours carried this attempt's ``status_callback`` URL. A candidate whose log names
        another callback is not ours. When the only candidate has no events logged yet, it
        is taken: ringcast never has two calls to one number at once, and this lookup runs
        before anything else is decided for the attempt.
        """
        since = dialled.sent_at - CLOCK_SKEW
        ours = self.status_url(attempt_id)
        candidates = [
            call
            for call in self._client.calls.list(
                to=dialled.to, from_=dialled.caller, limit=LOOKUP_CALLS
            )
            if call.date_created is None or call.date_created >= since
        ]
        silent: list[str] = []
        for call in candidates:
            events = call.events.list(limit=50)
            if any(_names_callback(event.request, ours) for event in events):
                return str(call.sid)
            if not events:
                silent.append(str(call.sid))
        if len(candidates) == 1 and silent:
            return silent[0]
        return None

    # --- reconciliation -----------------------------------------------------------------
    async def call_state(
        self, attempt_id: str, now: datetime, call: CallRecord | None = None
    ) -> CallResult | None:
        """How the call ended, from Twilio (``calls(sid).fetch()``); None while it is live
        or when Twilio cannot be asked or lists no call for the attempt.

        The sid is this process's memory of its own dials, or the store's record of the
        attempt (``call``); without either, the call is looked up from the number and the
        caller number the record names.
        """
        sid = self._sids.get(attempt_id) or _sid_of(call)
        if sid is None:
            unconfirmed = self._unconfirmed.get(attempt_id)
            dialled = unconfirmed or _dialled_of(call)
            if dialled is None:
                return None
            found = await self._look_up(attempt_id, dialled, 1)
            if found is None:
                return None
            self._unconfirmed.pop(attempt_id, None)
            if found is False:
                if unconfirmed is None:
                    return None  # nothing says a create was ever sent
                return CallResult(
                    attempt_id,
                    Outcome.PROVIDER_ERROR,
                    now,
                    failure_reason="twilio's answer to the create was lost and no call was placed",
                )
            sid = found
        try:
            fetched = await asyncio.to_thread(lambda: self._client.calls(sid).fetch())
        except (requests.RequestException, TwilioException, ValueError):
            return None
        return result_from_call(attempt_id, fetched, now)

    async def aclose(self) -> None:
        """Close the HTTP session (a gateway replaced by new settings)."""
        self._http.session.close()

    # --- answering machines ------------------------------------------------------------
    async def answer_machine(self, call_id: str, policy: VoicemailPolicy) -> None:
        """Hang up on the machine, or replace the agent with the message (said or played)
        and hang up after it; ``agent`` leaves the call to the agent.

        Twilio sends the verdict while the call goes on (asynchronous detection). With
        ``DetectMessageEnd`` it comes after the greeting's beep, which is when a message
        must start to be recorded whole. A call that ended meanwhile is refused by Twilio
        (21220): nothing is left to do, and the error is raised for the caller to log.
        """
        if policy.action is VoicemailAction.AGENT or not _CALL_SID.fullmatch(call_id):
            return
        if policy.action is VoicemailAction.HANGUP:
            change: dict[str, str] = {"status": "completed"}
        else:
            change = {"twiml": str(_message_twiml(policy))}
        call = self._client.calls(call_id)
        await asyncio.to_thread(call.update, **change)

    # --- callbacks ----------------------------------------------------------------------
    def read_callback(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> CallbackReading:
        """Verify one Twilio callback on its raw bytes, then read it (``reports``)."""
        return self._reports.read(url, headers, body, now)


def _message_twiml(policy: VoicemailPolicy) -> VoiceResponse:
    """The TwiML that leaves the policy's message on the machine, then hangs up."""
    response = VoiceResponse()
    if policy.message_audio_url:
        response.play(policy.message_audio_url)
    else:
        response.say(policy.message_text or "")
    response.hangup()
    return response


def _sid_of(call: CallRecord | None) -> str | None:
    """The call sid the store recorded for the attempt, if it is one."""
    recorded = call.attempt.gateway_call_id if call is not None else None
    return recorded if recorded and _CALL_SID.fullmatch(recorded) else None


def _dialled_of(call: CallRecord | None) -> _Dialled | None:
    """The dial the store recorded for the attempt, to look its call up by."""
    if call is None or not call.attempt.caller_number:
        return None
    return _Dialled(
        call.phone, call.attempt.caller_number, call.attempt.dialed_at or call.created_at
    )


def _names_callback(request: object, status_url: str) -> bool:
    """Whether a Call Events entry records a request carrying this status callback URL."""
    if not isinstance(request, dict):
        return False
    if request.get("url") == status_url:
        return True
    parameters = request.get("parameters")
    return isinstance(parameters, dict) and status_url in parameters.values()


def _never_sent(exc: requests.ConnectionError) -> bool:
    """Whether the connection failed before the request could leave (refused, no route,
    connect timeout, a TLS or proxy handshake that failed): then nothing can have been
    placed, and a lookup would fail the same way."""
    if isinstance(
        exc, requests.ConnectTimeout | requests.exceptions.SSLError | requests.exceptions.ProxyError
    ):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, NewConnectionError)
