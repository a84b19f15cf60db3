"""The ``retell`` gateway: calls placed by an agent hosted on Retell AI (``retell-sdk``).

Theory of operation
-------------------
*Placing.* ``place_call`` asks Retell to dial with ``call.create_phone_call(from_number,
to_number, override_agent_id, retell_llm_dynamic_variables, metadata, idempotency_key)``
on a ``Retell`` client pointed at the connection's ``api_base_url`` with the SDK's own
retries off. The attempt id travels in ``metadata["attempt_id"]`` (with the campaign id,
for the user's own call history) and as Retell's ``idempotency_key``. Retell honours that
key for one hour only, so ringcast does not count on it (``supports_idempotency`` is
False); it is a second guard, not the first.

*A create whose answer was lost* (a 5xx, a 408/409, a timeout or a connection dropped
after the request went out) may have placed the call. Before anything else is decided
the call is looked up with ``call.list(filter_criteria={"metadata": [{"key":
"attempt_id", "op": "eq", "type": "string", "value": <attempt id>}]})``, a few times
(``LOOKUP_DELAYS``): found, the dial is ``Accepted`` with the call id Retell gave it;
not found, nothing was placed (``GatewayUnavailable``); no lookup answered at all, the
call may exist, so the dial is ``Accepted`` without a call id and the call's own reports
(or reconciliation when its lease runs out) say how it ended: holding a concurrency slot
for a while is the price of never calling a person twice. Refusals map at this boundary:
429 and a refused API key (401/403) are ``GatewayUnavailable`` (nothing placed, try
later), any other 4xx is ``GatewayRejected`` (Retell refused this call), and a connection
that could not even be opened is ``GatewayUnavailable``.

*Reports.* Retell sends webhooks per agent, not per call: **the connection's callback URL
(``{RINGCAST_PUBLIC_URL}/ringcast/v1/gateway/retell/{connection_id}``) is what the user
sets as the Retell agent's webhook URL**, with the ``call_started``, ``call_ended`` and
``call_analyzed`` events on (Retell's default). Every report is checked first, on the raw
bytes, with the SDK's own verifier (``retell.lib.webhook_auth``): the ``x-retell-signature``
header is ``v=<ms>,d=<hex HMAC-SHA256 of body + ms>`` keyed with the connection's API key
(the key with the webhook badge in Retell's dashboard), within five minutes of ``now``.
The call is recognised by ``call.metadata.attempt_id``; the agent's other calls (inbound,
or placed by someone else) read with no attempt id and are to be acknowledged and ignored.

*Which report is final.* ``call_started`` means the callee picked up: progress
``answered`` only, so one that arrives late (after the end) undoes nothing.
``call_ended`` is final: outcome, evidence, duration and transcript are all in it.
``call_analyzed`` (the same call with ``call_analysis``) is final too, and complete: the
outcome again, plus the qualifiers, summary and extracted data of the analysis, with
progress ``analyzed`` to mark it as the fuller second word on an attempt that has usually
ended already. The end is not deferred until the analysis because that would hold the
call's concurrency slot and number until a report Retell may never send (it is optional
on the agent, and analysis can fail), and because nothing in one stateless callback can
enforce a deadline; a second final that is self-sufficient also ends the call correctly
when ``call_ended`` itself was lost. The first end recorded stands (its outcome decided
the retries); the analysis that follows it is filled into the ended attempt by the callback
route (``CallLog.add_call_details``).
A duplicate report parses to the same result again; ``transcript_updated`` and
``transfer_*`` events are progress ``in-progress``.

*Reconciliation.* ``call_state`` finds the attempt's call by metadata (as above), reads it
with ``call.retrieve(call_id)`` and gives its result once Retell says it is over
(``call_status`` ``ended``, ``not_connected`` or ``error``); None while it is live or when
Retell has no such call.

*Outcomes* come from ``disconnection_reason`` (``_REASONS``); its raw value is kept as
``provider_code``, and ``answered_by`` is ``machine`` for voicemail and IVR ends,
``human`` for ends that followed a conversation, ``unknown`` for a silent line, None when
nobody picked up. The analysis refines one thing: ``in_voicemail`` true makes the call a
voicemail answered by a machine, since a voicemail Retell did not hang up on ends like a
conversation. Qualifiers: ``do_not_call`` (``user_requested_dnc``), ``callback_requested``
(``user_requested_callback``), then from the agent's post-call analysis
(``call_analysis.custom_analysis_data``) the name of every boolean field that is true
(define ``not_interested``, ``do_not_call``, ... as boolean fields) and the strings of a
field named ``qualifiers`` (a list, or one comma-separated string). Extracted data is
``custom_analysis_data`` as Retell gives it, plus ``user_sentiment`` and
``call_successful`` from Retell's own analysis unless the agent defines fields of those
names. The summary is ``call_summary``. Transcript entries are built from
``transcript_object``: ``{"role", "actor", "action", "time", "message"}``, the shape the
Volubile transcript endpoint serves.

Errors (``ringcast.gateways.base``)::

    GatewayRejected       Retell refused this call (a 4xx other than 401, 403, 408, 409, 429)
    GatewayUnavailable    429, a refused API key, unreachable, or a lost create found unplaced
    SignatureInvalid      the report is not signed with this connection's key (answer 401)
    CallbackUnreadable    signed, but not a Retell call report (answer 400)
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import httpx
from retell import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimitError,
    Retell,
    RetellError,
)
from retell.lib.webhook_auth import symmetric as _retell_webhooks

from ringcast import jsontext
from ringcast.core.model import VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways._wire import header, signed_text, text
from ringcast.gateways.base import (
    Accepted,
    CallbackReading,
    CallbackUnreadable,
    CallGateway,
    DialRequest,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
)
from ringcast.gateways.provider_settings import RetellSettings
from ringcast.records import CallRecord

#: Retell's own API: what ``api_base_url`` is when nothing else is said.
#: The header Retell puts its webhook signature in (docs.retellai.com/features/secure-webhook).
SIGNATURE_HEADER = "x-retell-signature"
#: How long Retell may take to answer a create before the call is looked up instead.
CREATE_TIMEOUT = timedelta(seconds=15)
#: Lookups and reconciliation reads answer within this.
READ_TIMEOUT = timedelta(seconds=10)
#: Pauses before each lookup of a create whose answer was lost: a brief outage may pass,
#: and a call Retell has just created may take a moment to be listed (UNCONFIRMED how long).
LOOKUP_DELAYS = (timedelta(0), timedelta(seconds=1), timedelta(seconds=3))
#: Threads for the SDK's blocking calls. They are the gateway's own: the default executor
#: that ``asyncio.to_thread`` uses is shared with the store's transactions (six threads on
#: a two-core machine), and a slow create must not hold one of those.
SDK_THREADS = 8

ANSWERED = "answered"  #: progress: the callee picked up (``call_started``)
IN_PROGRESS = "in-progress"  #: progress: anything else Retell reports during a call
ANALYZED = "analyzed"  #: progress beside a final: the analysis has come (``call_analyzed``)

#: ``call_status`` values of a call that is over
_OVER = frozenset({"ended", "not_connected", "error"})

O = Outcome  # noqa: E741 - a one-letter alias keeps the table below readable

#: disconnection_reason -> (outcome, answered_by). Reasons and their meaning from the SDK's
#: ``PhoneCallResponse.disconnection_reason`` and docs.retellai.com/reliability/
#: debug-call-disconnect.
_REASONS: dict[str, tuple[Outcome, str | None]] = {
    # a conversation took place
    "user_hangup": (O.COMPLETED, "human"),
    "agent_hangup": (O.COMPLETED, "human"),
    "user_requested_dnc": (O.COMPLETED, "human"),
    "user_requested_callback": (O.COMPLETED, "human"),
    "call_transfer": (O.TRANSFERRED, "human"),
    "transfer_bridged": (O.TRANSFERRED, "human"),
    "call_take_over": (O.TRANSFERRED, "human"),  # a person took over from the agent
    "transfer_cancelled": (O.COMPLETED, "human"),
    "max_duration_reached": (O.PARTIAL, "human"),  # cut off before the conversation ended
    "inactivity": (O.PARTIAL, "unknown"),  # a silent line: a person or a machine
    # a machine picked up
    "voicemail_reached": (O.VOICEMAIL, "machine"),
    "ivr_reached": (O.VOICEMAIL, "machine"),
    "machine_detected": (O.VOICEMAIL, "machine"),  # the older name in Retell's docs
    # nobody picked up
    "dial_busy": (O.BUSY, None),
    "dial_no_answer": (O.NO_ANSWER, None),
    "user_declined": (O.REJECTED, None),
    "invalid_destination": (O.UNREACHABLE, None),
    "dial_failed": (O.FAILED, None),
    "marked_as_spam": (O.FAILED, None),  # the caller number is blocked as spam
    "network_blocked": (O.FAILED, None),
    # connected, then the agent's side failed
    "error_llm_websocket_lost_connection": (O.DROPPED, None),
    "error_llm_websocket_runtime": (O.DROPPED, None),
    "error_llm_websocket_corrupt_payload": (O.DROPPED, None),
    "error_no_audio_received": (O.DROPPED, None),
    "error_asr": (O.DROPPED, None),
    # Retell or its carrier could not run the call; the agent never joined
    "error_llm_websocket_open": (O.PROVIDER_ERROR, None),
    "error_retell": (O.PROVIDER_ERROR, None),
    "error_unknown": (O.PROVIDER_ERROR, None),
    "error_inbound_webhook": (O.PROVIDER_ERROR, None),
    "error_user_not_joined": (O.PROVIDER_ERROR, None),
    "registered_call_timeout": (O.PROVIDER_ERROR, None),
    "telephony_provider_permission_denied": (O.PROVIDER_ERROR, None),
    "telephony_provider_unavailable": (O.PROVIDER_ERROR, None),
    "sip_routing_error": (O.PROVIDER_ERROR, None),
    "concurrency_limit_reached": (O.PROVIDER_ERROR, None),
    "no_concurrency_fallback": (O.PROVIDER_ERROR, None),
    "no_valid_payment": (O.PROVIDER_ERROR, None),
    "credit_exhausted": (O.PROVIDER_ERROR, None),
    "budget_reached": (O.PROVIDER_ERROR, None),
    "scam_detected": (O.PROVIDER_ERROR, None),
    # stopped through Retell's API or dashboard
    "manual_stopped": (O.CANCELLED, None),
}

#: A reason Retell adds later is read by its family, then by ``call_status``.
_REASON_FAMILIES = (
    ("dial_", O.FAILED),
    ("telephony_provider_", O.PROVIDER_ERROR),
    ("error_", O.PROVIDER_ERROR),
)
_STATUS_FALLBACK = {"ended": O.COMPLETED, "not_connected": O.FAILED, "error": O.PROVIDER_ERROR}

#: qualifiers a disconnection reason carries by itself
_REASON_QUALIFIERS = {
    "user_requested_dnc": "do_not_call",
    "user_requested_callback": "callback_requested",
}

#: transcript_object role -> (actor, action) as the Volubile transcript endpoint spells them
_SPEAKERS = {
    "agent": ("AGENT", "AGENT_SPEAK"),
    "user": ("HUMAN", "HUMAN_SPEAK"),
    "transfer_target": ("HUMAN", "HUMAN_SPEAK"),
}

_T = TypeVar("_T")


class _Lookup(NamedTuple):
    call_id: str | None  #: the call Retell has for the attempt, if any
    answered: bool  #: whether any lookup answered at all


class RetellGateway(CallGateway):
    supports_idempotency = False  # Retell keeps an idempotency key for one hour only

    def __init__(
        self,
        settings: RetellSettings,
        callback_url: str,
        *,
        clock_now: Callable[[], datetime],
        lookup_delays: Sequence[timedelta] = LOOKUP_DELAYS,
    ) -> None:
        self.settings = settings
        #: the URL to set as the Retell agent's webhook URL
        self.callback_url = callback_url
        #: kept for the gateways' common constructor: what this one needs of time comes as
        #: the ``now`` its callers pass
        self.clock_now = clock_now
        self.lookup_delays = tuple(lookup_delays)
        self._client = Retell(
            api_key=settings.api_key,
            base_url=settings.api_base_url,
            max_retries=0,  # a retried create could place the call twice
            timeout=READ_TIMEOUT.total_seconds(),
        )
        self._threads = ThreadPoolExecutor(SDK_THREADS, thread_name_prefix="retell")
        self._placing: set[asyncio.Future[Accepted]] = set()

    # --- placing ----------------------------------------------------------------------
    async def place_call(self, request: DialRequest) -> Accepted:
        # The dial runs as its own task so that ``drain`` can wait for exactly this work
        # (the create and any lookups), not for whatever the caller does afterwards.
        placing = asyncio.ensure_future(self._place(request))
        self._placing.add(placing)
        placing.add_done_callback(self._placing.discard)
        return await placing

    async def _place(self, request: DialRequest) -> Accepted:
        if not request.caller:
            raise GatewayRejected("Retell needs a caller number (from_number); none was given")
        create = functools.partial(
            self._client.call.create_phone_call,
            from_number=request.caller,
            to_number=request.to,
            override_agent_id=self.settings.agent_id,
            retell_llm_dynamic_variables=dynamic_variables(
                {**request.variables, **voicemail_variables(request.voicemail)}
            ),
            metadata={"attempt_id": request.attempt_id, "campaign_id": request.campaign_id},
            idempotency_key=request.attempt_id,
            timeout=CREATE_TIMEOUT.total_seconds(),
        )
        try:
            call = await self._sdk(create)
        except RateLimitError as exc:
            raise GatewayUnavailable(f"Retell is at its limit (HTTP 429): {exc}"[:300]) from None
        except (AuthenticationError, PermissionDeniedError) as exc:
            raise GatewayUnavailable(
                f"Retell refused the connection's API key (HTTP {exc.status_code})"
            ) from None
        except APIStatusError as exc:
            if exc.status_code < 500 and exc.status_code not in (408, 409):
                raise GatewayRejected(
                    f"Retell refused the call: HTTP {exc.status_code}: {exc}"[:300]
                ) from None
            return await self._placed_anyway(request, f"HTTP {exc.status_code}")
        except APIConnectionError as exc:
            if isinstance(exc.__cause__, httpx.ConnectError | httpx.ConnectTimeout):
                raise GatewayUnavailable(
                    f"Retell is unreachable: {exc.__cause__!r}"[:300]
                ) from None
            return await self._placed_anyway(request, repr(exc.__cause__ or exc))
        return Accepted(call.call_id)

    async def _placed_anyway(self, request: DialRequest, lost: str) -> Accepted:
        """The create's answer was lost (``lost`` says how): what Retell did, by attempt id."""
        found = await self._lookup(request.attempt_id, self.lookup_delays)
        if found.call_id is not None:
            return Accepted(found.call_id)
        if found.answered:
            raise GatewayUnavailable(f"Retell did not place the call ({lost})"[:300])
        # Nobody can say whether the call exists: it is treated as placed, so that its
        # own reports (or reconciliation) end it and nobody is called twice meanwhile.
        return Accepted("")

    async def _lookup(self, attempt_id: str, delays: Sequence[timedelta]) -> _Lookup:
        """The call Retell has for ``attempt_id``, asked once per delay in ``delays``."""
        answered = False
        for delay in delays:
            if delay > timedelta(0):
                await asyncio.sleep(delay.total_seconds())
            listing = functools.partial(
                self._client.call.list,
                filter_criteria={
                    "metadata": [
                        {"key": "attempt_id", "op": "eq", "type": "string", "value": attempt_id}
                    ]
                },
                limit=10,
                timeout=READ_TIMEOUT.total_seconds(),
            )
            try:
                page = await self._sdk(listing)
            except RetellError:
                continue
            answered = True
            for item in page.items:
                # checked here too: a filter the server ignored must not adopt another call
                if _metadata_attempt(item.metadata) == attempt_id:
                    return _Lookup(item.call_id, True)
        return _Lookup(None, answered)

    # --- reconciliation ---------------------------------------------------------------
    async def call_state(
        self,
        attempt_id: str,
        now: datetime,
        call: CallRecord | None = None,  # noqa: ARG002 - Retell lists calls by metadata
    ) -> CallResult | None:
        """How the attempt's call ended, if Retell says it is over (None otherwise). Any
        process can ask: the call is found by the attempt id in its metadata."""
        found = await self._lookup(attempt_id, (timedelta(0),))
        if found.call_id is None:
            return None
        retrieve = functools.partial(
            self._client.call.retrieve, found.call_id, timeout=READ_TIMEOUT.total_seconds()
        )
        try:
            retrieved = await self._sdk(retrieve)
        except RetellError:
            return None
        data = retrieved.to_dict(mode="json")
        if data.get("call_status") not in _OVER:
            return None
        return call_result(attempt_id, data, now)

    # --- reports ----------------------------------------------------------------------
    def read_callback(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> CallbackReading:
        """Verify a Retell webhook on its raw bytes, then read it.

        ``url`` is not signed by Retell (only the body is); it names the connection, whose
        key this gateway already holds.
        """
        del url
        self.verify(headers, body, now)
        try:
            payload = jsontext.loads(body)
        except ValueError:
            raise CallbackUnreadable("the report is not JSON") from None
        if not isinstance(payload, dict):
            raise CallbackUnreadable("the report is not a JSON object")
        event, call = payload.get("event"), payload.get("call")
        if not isinstance(event, str) or not isinstance(call, dict):
            raise CallbackUnreadable("the report has no event or no call")
        attempt_id = _metadata_attempt(call.get("metadata"))
        if event == "call_started":
            return CallbackReading(attempt_id, progress=ANSWERED)
        if event not in ("call_ended", "call_analyzed"):
            return CallbackReading(attempt_id, progress=IN_PROGRESS)
        if attempt_id is None:
            return CallbackReading(None)
        final = call_result(attempt_id, call, now)
        return CallbackReading(
            attempt_id, final, progress=ANALYZED if event == "call_analyzed" else None
        )

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        """Raise ``SignatureInvalid`` unless Retell signed ``body`` with the API key."""
        signature = header(headers, SIGNATURE_HEADER)
        if not signature:
            raise SignatureInvalid(f"no {SIGNATURE_HEADER} header")
        decoded = signed_text(body)
        # The SDK's own verifier, told the time by ringcast's clock rather than the wall's.
        verified = _retell_webhooks["verify"](
            decoded, self.settings.api_key, signature, {"timestamp": _ms(now)}
        )
        if verified is not True:
            raise SignatureInvalid("the signature does not match, or is over five minutes old")

    # --- lifetime ---------------------------------------------------------------------
    async def drain(self) -> None:
        """Wait for the dials under way (a create and its lookups) to be decided."""
        while self._placing:
            await asyncio.wait(set(self._placing))

    async def aclose(self) -> None:
        """Let the dials under way finish, then close the HTTP client and the threads."""
        await self.drain()
        self._client.close()
        self._threads.shutdown(wait=False)

    async def _sdk(self, call: Callable[[], _T]) -> _T:
        """Run one blocking SDK call on the gateway's own threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)


def dynamic_variables(variables: Mapping[str, Any]) -> dict[str, str]:
    """The attempt's variables as Retell's dynamic variables, which are all strings:
    text as is, booleans ``true``/``false``, numbers as written, anything else as JSON;
    a missing value (None) is left out so the agent's own default applies."""
    out: dict[str, str] = {}
    for name, value in variables.items():
        if value is None:
            continue
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, int | float):
            out[name] = str(value)
        else:
            out[name] = json.dumps(value, separators=(",", ":"), default=str)
    return out


def voicemail_variables(policy: VoicemailPolicy) -> dict[str, str]:
    """The campaign's voicemail policy as dynamic variables the agent's prompt can use
    (``{{voicemail_action}}``, ``{{voicemail_message}}``): a Retell agent hears the machine
    itself, so it is the one to hang up or leave the message."""
    message = policy.message_text or policy.message_audio_url
    return {
        "voicemail_action": policy.action.value,
        **({"voicemail_message": message} if message else {}),
    }


def call_result(attempt_id: str, call: Mapping[str, Any], now: datetime) -> CallResult:
    """A Retell call object (webhook ``call``, or ``get-call``) that is over, as a result."""
    reason = text(call.get("disconnection_reason"))
    status = text(call.get("call_status"))
    outcome, answered_by = _outcome(reason, status)
    analysis = call.get("call_analysis")
    analysis = analysis if isinstance(analysis, dict) else {}
    if analysis.get("in_voicemail") is True and outcome.connected:
        outcome, answered_by = O.VOICEMAIL, "machine"
    started_at = _from_ms(call.get("start_timestamp"))
    ended_at = _from_ms(call.get("end_timestamp")) or now
    answered = outcome.connected or outcome is O.VOICEMAIL
    duration: timedelta | None = None
    if answered:
        duration_ms = call.get("duration_ms")
        if isinstance(duration_ms, int | float) and not isinstance(duration_ms, bool):
            duration = timedelta(milliseconds=duration_ms)
        elif started_at is not None:
            duration = max(ended_at - started_at, timedelta(0))
        else:
            duration = timedelta(0)
    custom = analysis.get("custom_analysis_data")
    custom = custom if isinstance(custom, dict) else {}
    return CallResult(
        attempt_id,
        outcome,
        ended_at,
        answered_at=(started_at or ended_at - (duration or timedelta(0))) if answered else None,
        duration=duration,
        qualifiers=_qualifiers(reason, custom),
        gateway_call_id=text(call.get("call_id")),
        failure_reason=None if answered else (reason or status),
        transcript=_transcript(call.get("transcript_object"), started_at or ended_at, outcome),
        summary=text(analysis.get("call_summary")),
        extracted=_extracted(analysis, custom),
        answered_by=answered_by,
        provider_code=reason or status,
    )


def _outcome(reason: str | None, status: str | None) -> tuple[Outcome, str | None]:
    if reason in _REASONS:
        return _REASONS[reason]
    for prefix, outcome in _REASON_FAMILIES:
        if reason and reason.startswith(prefix):
            return outcome, None
    fallback = _STATUS_FALLBACK.get(status or "", O.PROVIDER_ERROR)
    return fallback, ("unknown" if fallback.connected else None)


def _qualifiers(reason: str | None, custom: Mapping[str, Any]) -> frozenset[str]:
    found = {_REASON_QUALIFIERS[reason]} if reason in _REASON_QUALIFIERS else set()
    found.update(name for name, value in custom.items() if value is True)
    listed = custom.get("qualifiers")
    if isinstance(listed, str):
        listed = listed.split(",")
    if isinstance(listed, list):
        found.update(q.strip() for q in listed if isinstance(q, str) and q.strip())
    return frozenset(found)


def _extracted(analysis: Mapping[str, Any], custom: Mapping[str, Any]) -> dict[str, Any]:
    extracted = dict(custom)
    for name in ("user_sentiment", "call_successful"):
        if analysis.get(name) is not None:
            extracted.setdefault(name, analysis[name])
    return extracted


def _transcript(
    utterances: object, started_at: datetime, outcome: Outcome
) -> tuple[dict[str, Any], ...]:
    if not isinstance(utterances, list):
        return ()
    entries: list[dict[str, Any]] = []
    for utterance in utterances:
        if not isinstance(utterance, dict):
            continue
        role = text(utterance.get("role")) or "user"
        actor, action = _SPEAKERS.get(role, ("UNKNOWN", "HUMAN_SPEAK"))
        if role == "user" and outcome is O.VOICEMAIL:
            actor = "ANSWERING_MACHINE"  # the greeting the agent heard was a machine's
        words = utterance.get("words")
        first = words[0] if isinstance(words, list) and words else None
        offset = first.get("start") if isinstance(first, dict) else None
        at = started_at
        if isinstance(offset, int | float) and not isinstance(offset, bool):
            at = started_at + timedelta(seconds=offset)
        entries.append(
            {
                "role": role,
                "actor": actor,
                "action": action,
                "time": at.isoformat(),
                "message": text(utterance.get("content")) or "",
            }
        )
    return tuple(entries)


def _metadata_attempt(metadata: object) -> str | None:
    if isinstance(metadata, dict):
        attempt_id = metadata.get("attempt_id")
        if isinstance(attempt_id, str) and attempt_id:
            return attempt_id
    return None


def _from_ms(ms: object) -> datetime | None:
    """Retell's timestamps are milliseconds since the epoch."""
    if isinstance(ms, int | float) and not isinstance(ms, bool):
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    return None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
