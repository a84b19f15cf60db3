"""A local Retell AI API for tests, speaking the wire format ``retell-sdk`` speaks.

``RetellFake`` serves, on 127.0.0.1 (port 0, a thread), the endpoints the gateway uses:

    POST /v2/create-phone-call   201 and the call (``call_status`` ``registered``)
    GET  /v2/get-call/{call_id}  200 and the call as it stands, 404 when unknown
    POST /v3/list-calls          200 ``{"items", "has_more", "pagination_key"}``

Each request must carry ``Authorization: Bearer <api key>`` (401 otherwise) and is held to
the SDK's own parameter types (``CallCreatePhoneCallParams``, ``CallListParams``, checked
with pydantic, unknown keys refused): a body Retell's schema would refuse is a 400 and is
recorded in ``invalid_requests``. Every response is checked against the SDK's response
models before it is sent, so the fake cannot drift from what the SDK parses. Error bodies
are ``{"status": "error", "message"}`` (UNCONFIRMED: the SDK reads only the status code).

What each call does is scripted by its destination number (``scenarios``, number ->
``Scenario``; ``HUMAN`` otherwise). A call stays ``registered`` until the test ends it with
``finish(call_id)``, which moves it to its final state (what ``get-call`` then answers)
and returns the webhooks Retell would send for it, in order, each signed as Retell signs
them: ``x-retell-signature: v=<ms>,d=<hex>`` from the SDK's own signing function
(``retell.lib.webhook_auth``), keyed with the API key, stamped with the fake's clock.
``deliver(call_id, url)`` posts them to a URL instead (a ringcast server).

The failures providers are known for are scenario switches: a create refused before
placing (``create_status``: 429, 400, 503), a create that fails after placing
(``fail_after_placing``: a 500, or the connection dropped without an answer), a
duplicate ``call_ended``, final reports that never come (``final_lost``: reconciliation
must find the end through ``get-call``), ``call_started`` redelivered after the end
(Retell's "ringing after completed"), busy after answer (``BUSY_AFTER_ANSWER``) and an
agent that never joins (``AGENT_NEVER_JOINS``: Retell's ``error_llm_websocket_open``).
Idempotency keys are kept (a repeated key answers the first call, as Retell documents
for an hour; the replay's exact shape is UNCONFIRMED).
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx
from pydantic import TypeAdapter, ValidationError
from retell.lib.webhook_auth import symmetric
from retell.types.call_create_phone_call_params import CallCreatePhoneCallParams
from retell.types.call_list_params import CallListParams
from retell.types.call_list_response import CallListResponse
from retell.types.phone_call_response import PhoneCallResponse

SIGNATURE_HEADER = "x-retell-signature"

#: a short conversation, as ``transcript_object`` utterances: (role, content)
CONVERSATION = (
    ("agent", "Hello, this is Ava from Acme. Is now a good time?"),
    ("user", "Yes, go ahead."),
    ("agent", "Thank you, goodbye."),
)


@dataclass(frozen=True)
class Scenario:
    """What Retell does with one call."""

    reason: str = "user_hangup"  #: ``disconnection_reason`` at the end
    status: str = "ended"  #: ``call_status`` at the end (``ended`` means it connected)
    started: bool = True  #: whether ``call_started`` is sent (the callee picked up)
    ring: timedelta = timedelta(seconds=6)
    talk: timedelta = timedelta(seconds=42)  #: ``duration_ms`` when it connected
    transcript: tuple[tuple[str, str], ...] = CONVERSATION
    #: ``call_analysis``; None: no ``call_analyzed`` report
    analysis: Mapping[str, Any] | None = field(
        default_factory=lambda: {
            "call_summary": "The callee agreed to hear the offer.",
            "user_sentiment": "Positive",
            "call_successful": True,
            "in_voicemail": False,
            "custom_analysis_data": {"interested": True, "best_time": "evening"},
        }
    )
    # --- failures ---
    answer_after: timedelta = timedelta(0)  #: the create is answered this late (wall time)
    create_status: int | None = None  #: refuse the create with this status; nothing placed
    fail_after_placing: Literal["500", "drop"] | None = None  #: place it, then lose the answer
    duplicate_final: bool = False  #: ``call_ended`` is sent twice
    final_lost: bool = False  #: neither ``call_ended`` nor ``call_analyzed`` is sent
    started_after_end: bool = False  #: ``call_started`` comes (again) after the end


HUMAN = Scenario()
MACHINE = Scenario(
    reason="voicemail_reached",
    talk=timedelta(seconds=9),
    transcript=(("user", "You have reached Sam. Leave a message after the tone."),),
    analysis={"call_summary": "Voicemail.", "user_sentiment": "Unknown", "in_voicemail": True},
)
_NOT_CONNECTED = Scenario(status="not_connected", started=False, transcript=(), analysis={})
BUSY = replace(_NOT_CONNECTED, reason="dial_busy")
NO_ANSWER = replace(_NOT_CONNECTED, reason="dial_no_answer", ring=timedelta(seconds=30))
DECLINED = replace(_NOT_CONNECTED, reason="user_declined")
FAILED = replace(_NOT_CONNECTED, reason="dial_failed")
#: the callee's line answered, then the call ended busy (a carrier quirk)
BUSY_AFTER_ANSWER = replace(BUSY, started=True)
#: the callee answered; the agent's LLM socket never opened
AGENT_NEVER_JOINS = Scenario(
    reason="error_llm_websocket_open", status="error", transcript=(), analysis={}
)
RATE_LIMITED = replace(HUMAN, create_status=429)
REFUSED = replace(HUMAN, create_status=400)  #: e.g. a destination Retell will not dial
DOWN = replace(HUMAN, create_status=503)  #: a 5xx before anything was placed


@dataclass
class SignedReport:
    """One webhook as Retell sends it: the exact bytes and the headers signing them."""

    event: str
    headers: dict[str, str]
    body: bytes


class RetellFake:
    def __init__(
        self, api_key: str, agent_id: str, clock: Callable[[], datetime], port: int = 0
    ) -> None:
        self.api_key = api_key
        self.agent_id = agent_id
        self.clock = clock
        self.scenarios: dict[str, Scenario] = {}
        #: every call placed, by id, as ``get-call`` answers it
        self.calls: dict[str, dict[str, Any]] = {}
        self.placed: list[str] = []  #: call ids in the order they were placed
        self.create_requests: list[dict[str, Any]] = []  #: every create body received
        self.invalid_requests: list[tuple[str, str]] = []  #: (path, why) of refused bodies
        self.list_requests: list[dict[str, Any]] = []  #: every list body received
        #: answer every list with this status (Retell down while a lost create is looked up)
        self.list_status: int | None = None
        self._idempotency: dict[str, str] = {}
        self._created_at: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RetellFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def scenario_for(self, number: str) -> Scenario:
        return self.scenarios.get(number, HUMAN)

    def call_for_attempt(self, attempt_id: str) -> dict[str, Any] | None:
        """The call placed for ``attempt_id`` (its ``metadata.attempt_id``), if any."""
        for call in self.calls.values():
            if (call.get("metadata") or {}).get("attempt_id") == attempt_id:
                return call
        return None

    # --- the call's end and its reports ---------------------------------------------
    def finish(self, call_id: str) -> list[SignedReport]:
        """End the call as its scenario says; the webhooks Retell would send, in order."""
        with self._lock:
            call = self.calls[call_id]
            scenario = self.scenario_for(call["to_number"])
            created_at = self._created_at[call_id]
            started_at = created_at + scenario.ring
            connected = scenario.status == "ended"
            ended_at = started_at + (scenario.talk if connected else timedelta(0))
            basic = dict(call)
            if scenario.started:
                basic.update(call_status="ongoing", start_timestamp=_ms(started_at))
            ended = dict(basic, call_status=scenario.status, end_timestamp=_ms(ended_at))
            ended["disconnection_reason"] = scenario.reason
            if scenario.started:
                ended["duration_ms"] = _ms(ended_at) - _ms(started_at)
            if scenario.transcript:
                ended["transcript"] = "\n".join(f"{r}: {c}" for r, c in scenario.transcript)
                ended["transcript_object"] = _utterances(scenario.transcript)
            analyzed = dict(ended)
            if scenario.analysis is not None:
                analyzed["call_analysis"] = dict(scenario.analysis)
            self.calls[call_id] = _checked(PhoneCallResponse, analyzed)
        reports: list[tuple[str, dict[str, Any]]] = []
        if scenario.started and not scenario.started_after_end:
            reports.append(("call_started", _started_view(basic)))
        if not scenario.final_lost:
            reports.append(("call_ended", ended))
            if scenario.duplicate_final:
                reports.append(("call_ended", ended))
            if scenario.analysis is not None:
                reports.append(("call_analyzed", analyzed))
        if scenario.started_after_end:
            reports.append(("call_started", _started_view(basic)))
        return [self.sign(event, call) for event, call in reports]

    def sign(self, event: str, call: Mapping[str, Any]) -> SignedReport:
        """``{"event", "call"}`` as Retell sends it, signed with the SDK's own function."""
        text = json.dumps({"event": event, "call": call}, separators=(",", ":"), ensure_ascii=False)
        signature = symmetric["sign"](text, self.api_key, _ms(self.clock()))
        headers = {"content-type": "application/json", SIGNATURE_HEADER: signature}
        return SignedReport(event, headers, text.encode())

    def deliver(self, call_id: str, url: str) -> list[int]:
        """Finish the call and POST its reports to ``url``; the status of each answer."""
        with httpx.Client(timeout=10) as client:
            return [
                client.post(url, content=r.body, headers=r.headers).status_code
                for r in self.finish(call_id)
            ]

    # --- the API ------------------------------------------------------------------------
    def handle(self, method: str, path: str, auth: str | None, body: bytes) -> _Answer:
        if auth != f"Bearer {self.api_key}":
            return _Answer(401, _error("Unauthorized"))
        if method == "POST" and path == "/v2/create-phone-call":
            return self._create(body)
        if method == "POST" and path == "/v3/list-calls":
            return self._list(body)
        if method == "GET" and path.startswith("/v2/get-call/"):
            call = self.calls.get(path.removeprefix("/v2/get-call/"))
            return _Answer(200, call) if call else _Answer(404, _error("Call not found"))
        return _Answer(404, _error(f"no route {method} {path}"))

    def _create(self, raw: bytes) -> _Answer:
        params, problem = _params(CallCreatePhoneCallParams, raw)
        with self._lock:
            if problem is not None:
                self.invalid_requests.append(("/v2/create-phone-call", problem))
                return _Answer(400, _error(problem))
            self.create_requests.append(params)
            scenario = self.scenario_for(params["to_number"])
            if scenario.create_status is not None:
                return _Answer(scenario.create_status, _error("refused by scenario"))
            key = params.get("idempotency_key")
            if key and key in self._idempotency:
                return _Answer(201, self.calls[self._idempotency[key]])
            call_id = uuid.uuid4().hex
            call: dict[str, Any] = {
                "call_id": call_id,
                "call_type": "phone_call",
                "agent_id": params.get("override_agent_id") or self.agent_id,
                "agent_version": 1,
                "call_status": "registered",
                "direction": "outbound",
                "from_number": params["from_number"],
                "to_number": params["to_number"],
            }
            # Retell leaves these out of the call when they were not given.
            for name in ("metadata", "retell_llm_dynamic_variables"):
                if name in params:
                    call[name] = params[name]
            self.calls[call_id] = _checked(PhoneCallResponse, call)
            self._created_at[call_id] = self.clock()
            self.placed.append(call_id)
            if key:
                self._idempotency[key] = call_id
        if scenario.answer_after:
            time.sleep(scenario.answer_after.total_seconds())  # a slow Retell, on its thread
        if scenario.fail_after_placing == "500":
            return _Answer(500, _error("internal error"))
        if scenario.fail_after_placing == "drop":
            return _Answer(0, None)
        return _Answer(201, call)

    def _list(self, raw: bytes) -> _Answer:
        params, problem = _params(CallListParams, raw)
        if problem is not None:
            self.invalid_requests.append(("/v3/list-calls", problem))
            return _Answer(400, _error(problem))
        self.list_requests.append(params)
        if self.list_status is not None:
            return _Answer(self.list_status, _error("unavailable"))
        criteria = params.get("filter_criteria") or {}
        unsupported = set(criteria) - {"metadata", "agent"}
        if unsupported:  # the fake's limit, not Retell's: say so rather than ignore them
            return _Answer(400, _error(f"the fake does not filter on {sorted(unsupported)}"))
        with self._lock:
            calls = [c for c in self.calls.values() if _matches(c, criteria)]
        limit = int(params.get("limit") or 50)
        # v3 list items carry no transcripts (the SDK's ItemV3PhoneCallResponse)
        items = [
            {k: v for k, v in c.items() if not k.startswith("transcript")} for c in calls[:limit]
        ]
        page = {"items": items, "has_more": len(calls) > limit, "pagination_key": None}
        return _Answer(200, _checked(CallListResponse, page))


@dataclass
class _Answer:
    status: int  #: 0: drop the connection without answering
    body: Any


def _handler_for(fake: RetellFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(fake.handle("GET", self.path, self.headers.get("authorization"), b""))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            self._answer(fake.handle("POST", self.path, self.headers.get("authorization"), body))

        def _answer(self, answer: _Answer) -> None:
            if answer.status == 0:
                self.close_connection = True  # the request was taken; no answer will come
                return
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@functools.cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _params(kind: type, raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The body checked against the SDK's own parameter type (unknown keys refused too)."""
    try:
        body = json.loads(raw or b"{}")
        _adapter(kind).validate_python(body)
    except (ValueError, ValidationError) as exc:
        return {}, str(exc)
    known = kind.__required_keys__ | kind.__optional_keys__  # type: ignore[attr-defined]
    unknown = set(body) - known
    if unknown:
        return {}, f"unknown fields {sorted(unknown)}"
    return body, None


def _checked(model: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``body``, once the SDK's response model has parsed it strictly."""
    model.model_validate(body)
    return body


def _matches(call: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    metadata = call.get("metadata") or {}
    for rule in criteria.get("metadata", ()):
        value = metadata.get(rule.get("key"))
        if rule["op"] == "eq" and value != rule["value"]:
            return False
        if rule["op"] == "ne" and value == rule["value"]:
            return False
    agents = [a["agent_id"] for a in criteria.get("agent", ())]
    return not agents or call["agent_id"] in agents


def _utterances(lines: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """``transcript_object``: utterances with their words timed from the call's start."""
    out, at = [], 0.5
    for role, content in lines:
        words = []
        for word in content.split():
            words.append({"word": word, "start": round(at, 2), "end": round(at + 0.3, 2)})
            at += 0.35
        out.append({"role": role, "content": content, "words": words})
        at += 0.8
    return out


def _started_view(call: Mapping[str, Any]) -> dict[str, Any]:
    """``call_started`` carries the basic call information only."""
    return {k: v for k, v in call.items() if k not in ("end_timestamp", "duration_ms")}


def _error(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def serving(fake: RetellFake) -> Iterator[RetellFake]:
    """Run ``fake`` for the length of a fixture."""
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
