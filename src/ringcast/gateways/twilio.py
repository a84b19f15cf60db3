"""The ``twilio`` gateway: calls placed through Twilio Programmable Voice.

Theory of operation
-------------------
Each dial is one ``calls.create`` through the official SDK, pointed at the connection's
``api_base_url`` (so a test points it at a local fake), with the SDK's HTTP retries off:
Twilio takes no idempotency key, so a create sent twice may ring the callee twice.
Twilio reports on the call to ringcast's callback URL, with the attempt id in its query::

    {callback_url}?attempt_id=<id>        status callbacks (initiated, ringing, answered,
                                          completed / busy / no-answer / failed / canceled)
    {callback_url}/amd?attempt_id=<id>    the asynchronous answering-machine verdict

``read_callback`` checks ``X-Twilio-Signature`` (the SDK's ``RequestValidator``, keyed with
the auth token) over exactly the URL ringcast gave Twilio and the raw form body, before it
reads anything; then it turns the report into progress or a final ``CallResult``.

A create whose answer was lost (a 5xx, a timeout, a connection dropped after the request
went out) may have placed the call. It is looked up before anything else is decided: the
recent calls to the number from the caller number, confirmed by the create request each
call's Events log recorded (see ``_find_placed``). Found: the dial is accepted under the
found call's sid. Not found: nothing was placed (``GatewayUnavailable``). Could not look:
the call is presumed placed (the attempt id stands for its sid), because dialling a
second time is worse than waiting for the call lease; ``call_state`` looks again then.

Errors at the boundary::

    400-class refusal of this call (invalid number, geo permissions, ...)  GatewayRejected
    429, 5xx with no call found, Twilio unreachable, credentials refused   GatewayUnavailable
    a callback whose signature does not hold                               SignatureInvalid
    a signed callback that names no attempt or no status                   CallbackMalformed
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

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
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import Accepted, DialRequest, GatewayRejected, GatewayUnavailable

#: Twilio's own API host: what ``api_base_url`` is when nothing else is said.
TWILIO_API = "https://api.twilio.com"
#: Where the asynchronous answering-machine verdict goes, under the callback URL.
AMD_SUFFIX = "/amd"
#: Every call-progress event Twilio can report: each one is progress or the call's end.
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
MACHINE_DETECTION_MODES = frozenset({"Enable", "DetectMessageEnd"})
SIGNATURE_HEADER = "x-twilio-signature"

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
#: Attempts remembered per process (call sids, answering-machine verdicts, unconfirmed
#: creates); the oldest are forgotten first.
MEMORY = 10_000

_V = TypeVar("_V")
#: a lookup's answer: the placed call's sid, False (Twilio lists no such call) or None
#: (Twilio could not be asked)
_Found = str | Literal[False] | None

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class TwilioSettings:
    """A connection's ``"twilio"`` settings (the names are the connection body's).

    * ``account_sid``: ``AC`` and 32 hex digits, the account calls are placed on.
    * ``auth_token``: the account's auth token; it authenticates the API requests and
      keys the signature on every callback. Never shown (``repr`` leaves it out).
    * ``answer_url``: where Twilio fetches the TwiML for an answered call (for example a
      ``<Connect><Stream url="wss://...">`` to the agent), or
    * ``twiml``: that TwiML itself. Exactly one of the two.
    * ``machine_detection``: ``"Enable"`` (a verdict as soon as Twilio can tell),
      ``"DetectMessageEnd"`` (after the greeting, to leave a message) or None (no
      answering-machine detection; a voicemail then reads as a completed call).
    * ``api_base_url``: Twilio's API (``https://api.twilio.com``); a local fake in tests.
    * ``ring_timeout_s``: how long the phone may ring before the call is ``no-answer``
      (Twilio's ``Timeout``, 1-600; default 30 s, about six rings).
    * ``time_limit_s``: the longest a call may last (Twilio's ``TimeLimit``; default
      1800 s). Kept well under ringcast's call lease (2 h), so that reconciliation never
      meets a call that is still live.
    """

    account_sid: str
    auth_token: str = field(repr=False)
    answer_url: str | None = None
    twiml: str | None = None
    machine_detection: str | None = None
    api_base_url: str = TWILIO_API
    ring_timeout_s: int = 30
    time_limit_s: int = 1800

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            raise ValueError("account_sid must be AC followed by 32 hex digits")
        if not self.auth_token:
            raise ValueError("auth_token is required")
        if (self.answer_url is None) == (self.twiml is None):
            raise ValueError("give exactly one of answer_url and twiml")
        if self.machine_detection is not None and (
            self.machine_detection not in MACHINE_DETECTION_MODES
        ):
            raise ValueError("machine_detection must be Enable, DetectMessageEnd or null")
        if not 1 <= self.ring_timeout_s <= 600:
            raise ValueError("ring_timeout_s must be between 1 and 600")
        if not 1 <= self.time_limit_s <= 14_400:
            raise ValueError("time_limit_s must be between 1 and 14400 (Twilio's 4 hours)")


class SignatureInvalid(Exception):
    """The callback is not signed by Twilio with this connection's auth token."""


class CallbackMalformed(ValueError):
    """A correctly signed callback that does not say which attempt or what happened."""


@dataclass(frozen=True)
class CallbackReading:
    """What one verified callback says: the call's end, or progress, never both."""

    attempt_id: str
    final: CallResult | None = None
    #: ``initiated``, ``ringing``, ``answered`` (the callee picked up), or
    #: ``answered_by:<human|machine|fax|unknown>`` (the answering-machine verdict); a
    #: status ringcast does not know is passed on as Twilio spelled it
    progress: str | None = None


class TwilioGateway:
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
        self._validator = RequestValidator(settings.auth_token)
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
        #: attempt id -> raw AnsweredBy from the AMD callback, for a completed report
        #: that does not repeat it
        self._verdicts: OrderedDict[str, str] = OrderedDict()
        #: attempt id -> (to, caller, sent_at) of a create presumed placed, never confirmed
        self._unconfirmed: OrderedDict[str, tuple[str, str, datetime]] = OrderedDict()

    # --- placing ------------------------------------------------------------------------
    async def place_call(self, request: DialRequest) -> Accepted:
        """Place the call once; a create whose answer was lost is looked up, not resent."""
        if not request.caller:
            raise GatewayRejected("a twilio call needs a caller number (From)")
        caller = request.caller
        status_url = self.status_url(request.attempt_id)
        sent_at = self._now()
        try:
            sid = await asyncio.to_thread(self._create, request.to, caller, request.attempt_id)
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
            _remember(self._sids, request.attempt_id, sid)
            return Accepted(sid)
        return await self._recover(
            request.attempt_id, request.to, caller, status_url, sent_at, lost
        )

    def status_url(self, attempt_id: str) -> str:
        """The status callback URL given to Twilio for this attempt."""
        return f"{self.callback_url}?attempt_id={quote(attempt_id, safe='')}"

    def amd_url(self, attempt_id: str) -> str:
        """The answering-machine verdict's URL given to Twilio for this attempt."""
        return f"{self.callback_url}{AMD_SUFFIX}?attempt_id={quote(attempt_id, safe='')}"

    def _create(self, to: str, caller: str, attempt_id: str) -> str:
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
            to=to,
            from_=caller,
            status_callback=self.status_url(attempt_id),
            status_callback_method="POST",
            status_callback_event=list(STATUS_EVENTS),
            timeout=s.ring_timeout_s,
            time_limit=s.time_limit_s,
            **answer,
            **amd,
        )
        return str(call.sid)

    async def _recover(
        self,
        attempt_id: str,
        to: str,
        caller: str,
        status_url: str,
        sent_at: datetime,
        lost: str,
    ) -> Accepted:
        """Decide a create whose answer was lost by looking for the call it may have placed."""
        found = await self._look_up(to, caller, status_url, sent_at)
        if found is False:
            raise GatewayUnavailable(f"{lost}; no call to this number was found")
        if found is None:
            # Twilio could not be asked: the call may ring. Presume it placed rather than
            # risk a second call; the lease's reconciliation looks again (call_state).
            _remember(self._unconfirmed, attempt_id, (to, caller, sent_at))
            return Accepted(attempt_id)
        _remember(self._sids, attempt_id, found)
        return Accepted(found)

    async def _look_up(self, to: str, caller: str, status_url: str, sent_at: datetime) -> _Found:
        """The placed call's sid; False when Twilio lists none; None when it cannot be asked."""
        answered = False
        pause = self._lookup_backoff
        for attempt in range(LOOKUP_TRIES):
            if attempt:
                await asyncio.sleep(pause.total_seconds())
                pause *= 2
            try:
                sid = await asyncio.to_thread(self._find_placed, to, caller, status_url, sent_at)
            except (requests.RequestException, TwilioException, ValueError):
                continue
            answered = True
            if sid is not None:
                return sid
        return False if answered else None

    def _find_placed(self, to: str, caller: str, status_url: str, sent_at: datetime) -> str | None:
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
        since = sent_at - CLOCK_SKEW
        candidates = [
            call
            for call in self._client.calls.list(to=to, from_=caller, limit=LOOKUP_CALLS)
            if call.date_created is None or call.date_created >= since
        ]
        silent: list[str] = []
        for call in candidates:
            events = call.events.list(limit=50)
            if any(_names_callback(event.request, status_url) for event in events):
                return str(call.sid)
            if not events:
                silent.append(str(call.sid))
        if len(candidates) == 1 and silent:
            return silent[0]
        return None

    # --- reconciliation -----------------------------------------------------------------
    async def call_state(
        self, attempt_id: str, now: datetime, *, gateway_call_id: str | None = None
    ) -> CallResult | None:
        """How the call ended, from Twilio (``calls(sid).fetch()``); None while it is live
        or when this process cannot tell which call the attempt placed.

        The sid comes from ``gateway_call_id`` (what ``place_call`` accepted, when the
        caller kept it) or from this process's memory of its own dials.
        """
        sid = gateway_call_id if gateway_call_id and _CALL_SID.match(gateway_call_id) else None
        sid = sid or self._sids.get(attempt_id)
        if sid is None:
            pending = self._unconfirmed.get(attempt_id)
            if pending is None:
                return None
            to, caller, sent_at = pending
            found = await self._look_up(to, caller, self.status_url(attempt_id), sent_at)
            if found is None:
                return None
            del self._unconfirmed[attempt_id]
            if found is False:
                return CallResult(
                    attempt_id,
                    Outcome.PROVIDER_ERROR,
                    now,
                    failure_reason="twilio's answer to the create was lost and no call was placed",
                )
            sid = found
        try:
            call = await asyncio.to_thread(lambda: self._client.calls(sid).fetch())
        except (requests.RequestException, TwilioException, ValueError):
            return None
        return result_from_call(attempt_id, call, now)

    async def drain(self) -> None:
        """Nothing runs in the background: every request is awaited by its caller."""

    async def aclose(self) -> None:
        """Close the HTTP session (a gateway replaced by new settings)."""
        self._http.session.close()

    # --- callbacks ----------------------------------------------------------------------
    def read_callback(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> CallbackReading:
        """Verify one Twilio callback on its raw bytes, then read it.

        ``url`` is the URL the request arrived at. Only its query and whether it is the
        answering-machine sub-path are taken from it: the signature is checked over the
        URL ringcast gave Twilio (``callback_url``), since behind a proxy the URL a server
        sees is not the one Twilio signed.
        """
        signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        if not signature:
            raise SignatureInvalid("no X-Twilio-Signature header")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureInvalid("the body is not the form Twilio signs") from None
        # Blank values are signed too (Twilio sends e.g. an empty CallerCity).
        pairs = parse_qsl(text, keep_blank_values=True)
        parts = urlsplit(url)
        signed_url = self.callback_url + (AMD_SUFFIX if parts.path.endswith(AMD_SUFFIX) else "")
        if parts.query:
            signed_url += "?" + parts.query
        if not self._validator.validate(signed_url, _FormParams.of(pairs), signature):
            raise SignatureInvalid("X-Twilio-Signature does not match this connection's token")

        attempt_id = dict(parse_qsl(parts.query)).get("attempt_id")
        if not attempt_id:
            raise CallbackMalformed("the callback URL names no attempt")
        params = dict(pairs)
        if parts.path.endswith(AMD_SUFFIX):
            raw = params.get("AnsweredBy")
            if not raw:
                raise CallbackMalformed("an answering-machine callback without AnsweredBy")
            _remember(self._verdicts, attempt_id, raw)
            return CallbackReading(attempt_id, progress=f"answered_by:{answered_by(raw)}")

        status = params.get("CallStatus")
        if not status:
            raise CallbackMalformed("a status callback without CallStatus")
        if status not in _FINAL:
            return CallbackReading(attempt_id, progress=_PROGRESS.get(status, status))
        # Twilio repeats AnsweredBy on the completed report of a call it screened; when it
        # does not, the verdict this process heard earlier stands in.
        heard = self._verdicts.pop(attempt_id, None)
        verdict = params.get("AnsweredBy") or heard
        ended_at = _rfc2822(params.get("Timestamp")) or now
        result = _result(
            attempt_id,
            status,
            ended_at,
            seconds=_int(params.get("CallDuration")),
            sip=_int(params.get("SipResponseCode")),
            verdict=verdict,
            sid=params.get("CallSid"),
        )
        return CallbackReading(attempt_id, final=result)


# --- Twilio's vocabulary, in ringcast's --------------------------------------------------

#: CallStatus values that end a call, by the outcome they read as (refined by SIP codes).
_FINAL: dict[str, Outcome] = {
    "completed": Outcome.COMPLETED,
    "busy": Outcome.BUSY,
    "no-answer": Outcome.NO_ANSWER,
    "canceled": Outcome.CANCELLED,
    "failed": Outcome.FAILED,
}
#: CallStatus values of a call still going, as the progress ringcast reports.
_PROGRESS: dict[str, str] = {
    "queued": "queued",
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
}
#: SIP codes that say more than Twilio's busy / no-answer / failed: a declined call (603
#: Decline, 607 Unwanted, 608 Rejected) and a number that does not exist or no longer
#: does (404, 410, 484, 604). Twilio sends ``SipResponseCode`` on the status callbacks of
#: calls that ended without an answer (UNCONFIRMED for every carrier; a callback without
#: it keeps Twilio's own status).
_SIP_OUTCOME: dict[int, Outcome] = {
    603: Outcome.REJECTED,
    607: Outcome.REJECTED,
    608: Outcome.REJECTED,
    404: Outcome.UNREACHABLE,
    410: Outcome.UNREACHABLE,
    484: Outcome.UNREACHABLE,
    604: Outcome.UNREACHABLE,
}
#: Twilio's AnsweredBy, as the evidence ringcast keeps (human / machine / fax / unknown).
_ANSWERED_BY: dict[str, str] = {
    "human": "human",
    "machine": "machine",  # how the Call resource's answered_by may read
    "machine_start": "machine",
    "machine_end_beep": "machine",
    "machine_end_silence": "machine",
    "machine_end_other": "machine",
    "fax": "fax",
    "unknown": "unknown",
}


def answered_by(raw: str) -> str:
    """Twilio's ``AnsweredBy`` as ringcast's evidence; a value Twilio adds later is unknown."""
    return _ANSWERED_BY.get(raw, "unknown")


def result_from_call(attempt_id: str, call: object, now: datetime) -> CallResult | None:
    """A fetched Call resource as a call result; None while the call is still going."""
    status = str(getattr(call, "status", "") or "")
    if status not in _FINAL:
        return None
    end_time = getattr(call, "end_time", None)
    raw_answered = getattr(call, "answered_by", None)
    sid = getattr(call, "sid", None)
    return _result(
        attempt_id,
        status,
        end_time if isinstance(end_time, datetime) else now,
        seconds=_int(getattr(call, "duration", None)),
        sip=None,  # the Call resource does not keep the SIP code
        verdict=str(raw_answered) if raw_answered else None,
        sid=str(sid) if sid else None,
    )


def _result(
    attempt_id: str,
    status: str,
    ended_at: datetime,
    *,
    seconds: int | None,
    sip: int | None,
    verdict: str | None,
    sid: str | None,
) -> CallResult:
    """One finished call in ringcast's words, keeping Twilio's own codes as evidence."""
    outcome = _FINAL[status]
    who = answered_by(verdict) if verdict else None
    if outcome is Outcome.COMPLETED:
        if who == "machine":
            outcome = Outcome.VOICEMAIL
        elif who == "fax":
            # A fax line answered: there is nobody to talk to at this number.
            outcome = Outcome.UNREACHABLE
    elif sip is not None and outcome is not Outcome.CANCELLED:
        outcome = _SIP_OUTCOME.get(sip, outcome)
    code = status + (f";sip={sip}" if sip is not None else "")
    code += f";answered_by={verdict}" if verdict else ""
    connected = status == "completed"
    duration = timedelta(seconds=seconds) if connected and seconds is not None else None
    return CallResult(
        attempt_id,
        outcome,
        ended_at,
        answered_at=ended_at - duration if duration is not None else None,
        duration=duration,
        gateway_call_id=sid,
        failure_reason=None if connected else f"twilio: {code}",
        answered_by=who,
        provider_code=code,
    )


# --- small helpers -----------------------------------------------------------------------


class _FormParams(dict[str, list[str]]):
    """Form fields with every value of a repeated field, the way ``RequestValidator``
    reads a multi-valued form (it asks ``getlist``)."""

    @classmethod
    def of(cls, pairs: list[tuple[str, str]]) -> _FormParams:
        form = cls()
        for key, value in pairs:
            form.setdefault(key, []).append(value)
        return form

    def getlist(self, key: str) -> list[str]:
        return self[key]


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


def _remember(memory: OrderedDict[str, _V], key: str, value: _V) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > MEMORY:
        memory.popitem(last=False)


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _rfc2822(value: str | None) -> datetime | None:
    """Twilio's callback ``Timestamp`` (RFC 2822), as an aware datetime."""
    if not value:
        return None
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo is not None else None
