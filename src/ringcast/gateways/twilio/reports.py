"""Twilio's callbacks and Call resources, in ringcast's words.

``Reports.read`` checks ``X-Twilio-Signature`` (the SDK's ``RequestValidator``, keyed with
the auth token) over exactly the URL ringcast gave Twilio and the raw form body, before it
reads anything; then it turns the report into progress or a final ``CallResult``::

    {callback_url}?attempt_id=<id>        status callbacks (initiated, ringing, answered,
                                          completed / busy / no-answer / failed / canceled)
    {callback_url}/amd?attempt_id=<id>    the asynchronous answering-machine verdict

``result_from_call`` reads a fetched Call resource the same way, for reconciliation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from twilio.request_validator import RequestValidator

from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways._wire import header, signed_text
from ringcast.gateways.base import CallbackReading, CallbackUnreadable, SignatureInvalid

#: Where the asynchronous answering-machine verdict goes, under the callback URL.
AMD_SUFFIX = "/amd"
SIGNATURE_HEADER = "x-twilio-signature"
#: Attempts remembered per process (call sids, answering-machine verdicts, unconfirmed
#: creates); the oldest are forgotten first.
MEMORY = 10_000

_V = TypeVar("_V")

#: CallStatus values that end a call, by the outcome they read as (refined by SIP codes).
FINAL: dict[str, Outcome] = {
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


def status_url(callback_url: str, attempt_id: str) -> str:
    """The status callback URL given to Twilio for this attempt."""
    return f"{callback_url}?attempt_id={quote(attempt_id, safe='')}"


def amd_url(callback_url: str, attempt_id: str) -> str:
    """The answering-machine verdict's URL given to Twilio for this attempt."""
    return f"{callback_url}{AMD_SUFFIX}?attempt_id={quote(attempt_id, safe='')}"


class Reports:
    """Reads the callbacks of one connection: verified with its auth token, over the
    callback URL ringcast gave Twilio."""

    def __init__(self, auth_token: str, callback_url: str) -> None:
        self._validator = RequestValidator(auth_token)
        self.callback_url = callback_url
        #: attempt id -> raw AnsweredBy from the AMD callback, for a completed report
        #: that does not repeat it
        self._verdicts: OrderedDict[str, str] = OrderedDict()

    def read(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> CallbackReading:
        """Verify one Twilio callback on its raw bytes, then read it.

        ``url`` is the URL the request arrived at. Only its query and whether it is the
        answering-machine sub-path are taken from it: the signature is checked over the
        URL ringcast gave Twilio (``callback_url``), since behind a proxy the URL a server
        sees is not the one Twilio signed.
        """
        signature = header(headers, SIGNATURE_HEADER)
        if not signature:
            raise SignatureInvalid("no X-Twilio-Signature header")
        text = signed_text(body)
        # Blank values are signed too (Twilio sends e.g. an empty CallerCity).
        pairs = parse_qsl(text, keep_blank_values=True)
        parts = urlsplit(url)
        is_amd = parts.path.endswith(AMD_SUFFIX)
        signed_url = self.callback_url + (AMD_SUFFIX if is_amd else "")
        if parts.query:
            signed_url += "?" + parts.query
        if not self._validator.validate(signed_url, _FormParams.of(pairs), signature):
            raise SignatureInvalid("X-Twilio-Signature does not match this connection's token")

        attempt_id = dict(parse_qsl(parts.query)).get("attempt_id")
        if not attempt_id:
            raise CallbackUnreadable("the callback URL names no attempt")
        params = dict(pairs)
        if is_amd:
            raw = params.get("AnsweredBy")
            if not raw:
                raise CallbackUnreadable("an answering-machine callback without AnsweredBy")
            remember(self._verdicts, attempt_id, raw)
            return CallbackReading(
                attempt_id,
                progress=f"answered_by:{answered_by(raw)}",
                call_id=params.get("CallSid") or None,
            )

        status = params.get("CallStatus")
        if not status:
            raise CallbackUnreadable("a status callback without CallStatus")
        if status not in FINAL:
            return CallbackReading(attempt_id, progress=_PROGRESS.get(status, status))
        # Twilio repeats AnsweredBy on the completed report of a call it screened; when it
        # does not, the verdict this process heard earlier stands in.
        heard = self._verdicts.pop(attempt_id, None)
        result = _result(
            attempt_id,
            status,
            _rfc2822(params.get("Timestamp")) or now,
            seconds=_int(params.get("CallDuration")),
            sip=_int(params.get("SipResponseCode")),
            verdict=params.get("AnsweredBy") or heard,
            sid=params.get("CallSid"),
        )
        return CallbackReading(attempt_id, final=result)


def answered_by(raw: str) -> str:
    """Twilio's ``AnsweredBy`` as ringcast's evidence; a value Twilio adds later is unknown."""
    return _ANSWERED_BY.get(raw, "unknown")


def result_from_call(attempt_id: str, call: object, now: datetime) -> CallResult | None:
    """A fetched Call resource as a call result; None while the call is still going."""
    status = str(getattr(call, "status", "") or "")
    if status not in FINAL:
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
    outcome = FINAL[status]
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


def remember(memory: OrderedDict[str, _V], key: str, value: _V) -> None:
    """Keep ``value`` under ``key``, forgetting the oldest entries beyond ``MEMORY``."""
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
