"""A contract fake of Twilio's Calls API (2010-04-01), for driving the real SDK offline.

The fake is a real HTTP server on 127.0.0.1 that speaks Twilio's wire format: HTTP Basic
authentication with the account SID and auth token, form-encoded requests, JSON answers,
Twilio's error body (``{"code", "message", "more_info", "status"}``). Every request is
checked against Twilio's published OpenAPI description (``twilio_contract``), and one
Twilio would refuse is answered 400 with Twilio's error body. The fake is stricter than
Twilio in one way, on purpose: it refuses a parameter the document does not name, where
Twilio ignores it, so that a misspelt option cannot silently switch a feature off. Every
answer the fake gives is itself checked against the document's response schema
(``api.v2010.account.call`` and the list pages); a mismatch is recorded in
``contract_errors``, which the fixture asserts empty.

What happens to each call is scripted by its destination number (``fake.script``); the
fake then has the callbacks Twilio would send, signed as Twilio signs them (the SDK's own
``RequestValidator.compute_signature``, HMAC-SHA1 of the URL and the sorted parameters,
keyed with the auth token), over the exact bytes of the form body. A test takes them with
``pop_callbacks`` (or ``deliver`` to an async function, or ``post_callbacks`` over HTTP).
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_contract import ContractViolation, Operation, TwilioContract

API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-fake-auth-token-0123456789"


# --- scripted calls ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """What happens to calls to one number, and how Twilio misbehaves about it."""

    final: str = "completed"  #: the CallStatus the call ends with
    answered_by: str = "human"  #: the AMD verdict, when the create asked for detection
    duration_s: int = 42  #: talk time of an answered call
    ring_s: int = 6
    sip_code: int | None = None  #: SipResponseCode on the final report
    answered: bool | None = None  #: picked up before ending (default: final == completed)
    duplicate_final: bool = False  #: the final report comes twice
    final_never_comes: bool = False  #: the final report is lost (the call still ends)
    ringing_after_completed: bool = False  #: a late ``ringing`` after the final report
    answered_by_on_status: bool = True  #: the completed report repeats AnsweredBy
    events_logged: bool = True  #: the call's Events log holds its create request
    #: how the create is answered: None (201), "429", "refuse_number" (400, nothing
    #: placed), "500_before_placing", "500_after_placing", "drop_after_placing" (the
    #: connection is closed without an answer, the call placed)
    create: str | None = None

    @property
    def picks_up(self) -> bool:
        return self.final == "completed" if self.answered is None else self.answered


#: The scenarios the tests replay, by name.
SCENARIOS: dict[str, Scenario] = {
    "human": Scenario(),
    "voicemail": Scenario(answered_by="machine_end_beep", duration_s=25),
    "fax": Scenario(answered_by="fax", duration_s=3),
    "busy": Scenario(final="busy", sip_code=486, ring_s=2),
    "no_answer": Scenario(final="no-answer", sip_code=487, ring_s=30),
    "rejected": Scenario(final="busy", sip_code=603, ring_s=4),
    "failed": Scenario(final="failed", sip_code=503, ring_s=0),
    "unreachable": Scenario(final="failed", sip_code=404, ring_s=0),
    "duplicate_final": Scenario(duplicate_final=True),
    "final_never_comes": Scenario(final_never_comes=True),
    "ringing_after_completed": Scenario(ringing_after_completed=True),
    "busy_after_answer": Scenario(final="busy", sip_code=486, answered=True, duration_s=2),
    "rate_limited": Scenario(create="429"),
    "refused_number": Scenario(create="refuse_number"),
    "lost_5xx": Scenario(create="500_after_placing"),
    "lost_dropped": Scenario(create="drop_after_placing"),
    "lost_unlogged": Scenario(create="500_after_placing", events_logged=False),
    "down_5xx": Scenario(create="500_before_placing"),
    "amd_only_async": Scenario(answered_by="machine_end_silence", answered_by_on_status=False),
}


@dataclass
class FakeCall:
    """A call the fake placed, and everything Twilio knows about it."""

    sid: str
    account_sid: str
    form: dict[str, list[str]]
    created_at: datetime
    scenario: Scenario
    events: list[dict[str, Any]] = field(default_factory=list)
    #: the forms of the updates a client posted to the live call (``Status``, ``Twiml``)
    updates: list[dict[str, list[str]]] = field(default_factory=list)

    def param(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[-1] if values else None

    @property
    def to(self) -> str:
        return self.param("To") or ""

    @property
    def from_(self) -> str:
        return self.param("From") or ""

    @property
    def detects_machines(self) -> bool:
        return self.param("MachineDetection") is not None

    @property
    def answered_at(self) -> datetime | None:
        s = self.scenario
        return self.created_at + timedelta(seconds=s.ring_s) if s.picks_up else None

    @property
    def ended_at(self) -> datetime:
        s = self.scenario
        answered = self.answered_at
        if answered is None:
            return self.created_at + timedelta(seconds=s.ring_s)
        return answered + timedelta(seconds=s.duration_s)

    def status_at(self, now: datetime) -> str:
        if now >= self.ended_at:
            return self.scenario.final
        answered = self.answered_at
        if answered is not None and now >= answered:
            return "in-progress"
        return "ringing" if now > self.created_at else "queued"

    def resource(self, now: datetime) -> dict[str, Any]:
        """The Call resource, shaped as the document's ``api.v2010.account.call``."""
        status = self.status_at(now)
        final = status == self.scenario.final
        connected = final and status == "completed"
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        verdict = self.scenario.answered_by if self.detects_machines and connected else None
        return {
            "sid": self.sid,
            "date_created": _rfc2822(self.created_at),
            "date_updated": _rfc2822(min(now, self.ended_at)),
            "parent_call_sid": None,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "phone_number_sid": None,
            "status": status,
            "start_time": None if status == "queued" else _rfc2822(self.created_at),
            "end_time": _rfc2822(self.ended_at) if final else None,
            "duration": str(self.scenario.duration_s) if connected else None,
            "price": None,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": verdict,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": f"{uri}.json",
            "subresource_uris": {
                name: f"{uri}/{name.title().replace('_', '')}.json"
                for name in ("notifications", "recordings", "events")
            },
        }


@dataclass(frozen=True)
class SignedCallback:
    """One request Twilio sends to ringcast: where, with which headers, which bytes."""

    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


# --- the fake ----------------------------------------------------------------------------


class TwilioFake:
    """Twilio's Calls API on a local port; ``url`` is its ``api_base_url``."""

    def __init__(
        self,
        now: Callable[[], datetime],
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
    ) -> None:
        self.now = now
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.contract = TwilioContract.load()
        #: destination number -> scenario; other numbers are answered by a human
        self.script: dict[str, Scenario] = {}
        #: every call placed, by sid, in the order placed
        self.calls: dict[str, FakeCall] = {}
        #: every request received: (method, path, form or query)
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        #: the fake's own answers that depart from the document (asserted empty)
        self.contract_errors: list[str] = []
        #: answer every read (GET) with a 500, as during an outage of Twilio's API
        self.fail_reads = False
        self._pending: list[SignedCallback] = []
        self._lock = threading.Lock()
        self.url = ""

    # --- serving
    @contextmanager
    def serving(self) -> Iterator[TwilioFake]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        # A short poll keeps shutdown (once per test) quick.
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    # --- what a test reads
    def creates(self) -> int:
        """How many create requests reached the fake (valid or not)."""
        return sum(
            1 for m, path, _ in self.requests if m == "POST" and path.endswith("/Calls.json")
        )

    def calls_to(self, number: str) -> list[FakeCall]:
        """Every call placed to this number."""
        return [c for c in self.calls.values() if c.to == number]

    def pop_callbacks(self) -> list[SignedCallback]:
        """The callbacks Twilio has sent since the last call, in the order it sent them."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    async def deliver(self, sink: Callable[[SignedCallback], Awaitable[object]]) -> int:
        """Hand every pending callback to ``sink`` in order; how many there were."""
        pending = self.pop_callbacks()
        for callback in pending:
            await sink(callback)
        return len(pending)

    def post_callbacks(self) -> list[int]:
        """POST every pending callback to its URL, as Twilio does; the status codes."""
        with httpx.Client(timeout=5) as client:
            return [
                client.post(c.url, content=c.body, headers=c.headers).status_code
                for c in self.pop_callbacks()
            ]

    # --- requests
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        form = parse_qs(raw.decode(), keep_blank_values=True) if raw else None
        method = handler.command
        with self._lock:
            self.requests.append((method, parts.path, form if form is not None else query))
        try:
            self._authenticate(handler.headers.get("authorization"))
            op = self.contract.operation(method, parts.path)
            if op.path_params.get("AccountSid") != self.account_sid:
                raise ContractViolation(
                    404, 20404, f"The requested resource {parts.path} was not found"
                )
            if method == "POST":
                content_type = handler.headers.get("content-type", "")
                if not content_type.startswith("application/x-www-form-urlencoded"):
                    raise ContractViolation(400, 21200, "Twilio takes form-encoded bodies")
            self.contract.check_request(op, query if method == "GET" else {}, form)
            status, body = self._answer(op, query, form or {})
        except ContractViolation as refusal:
            self._send(
                handler, refusal.status, _error_body(refusal.status, refusal.code, refusal.message)
            )
            return
        except _Drop:
            # The connection closes with no answer at all: the client's answer is lost.
            handler.close_connection = True
            return
        if status < 300:
            self.contract_errors += self.contract.check_response(op, status, body)
        self._send(handler, status, body)

    def _authenticate(self, header: str | None) -> None:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if header != f"Basic {expected}":
            raise ContractViolation(401, 20003, "Authenticate")

    def _answer(
        self, op: Operation, query: dict[str, list[str]], form: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        now = self.now()
        if op.method == "GET" and self.fail_reads:
            raise ContractViolation(500, 20500, "Internal Server Error")
        calls = f"/{API_VERSION}/Accounts/{{AccountSid}}/Calls"
        if op.method == "POST" and op.template == f"{calls}.json":
            return self._create(form, now)
        if op.method == "GET" and op.template == f"{calls}.json":
            return 200, self._list(query, now)
        if op.method == "GET" and op.template == f"{calls}/{{Sid}}.json":
            call = self.calls.get(op.path_params["Sid"])
            if call is None:
                raise ContractViolation(404, 20404, "The requested resource was not found")
            return 200, call.resource(now)
        if op.method == "POST" and op.template == f"{calls}/{{Sid}}.json":
            return self._update(op.path_params["Sid"], form, now)
        if op.method == "GET" and op.template == f"{calls}/{{CallSid}}/Events.json":
            call = self.calls.get(op.path_params["CallSid"])
            if call is None:
                raise ContractViolation(404, 20404, "The requested resource was not found")
            return 200, self._page("events", call.events, op.path_params["CallSid"] + "/Events")
        raise ContractViolation(404, 20404, f"this fake does not serve {op.method} {op.template}")

    def _create(self, form: dict[str, list[str]], now: datetime) -> tuple[int, dict[str, Any]]:
        if not any(form.get(k) for k in ("Url", "Twiml", "ApplicationSid")):
            raise ContractViolation(400, 21200, "Url, Twiml or ApplicationSid is required")
        to = form["To"][-1]
        scenario = self.script.get(to, SCENARIOS["human"])
        if scenario.create == "429":
            raise ContractViolation(429, 20429, "Too Many Requests")
        if scenario.create == "refuse_number":
            raise ContractViolation(
                400, 21211, f"The 'To' number {to} is not a valid phone number."
            )
        if scenario.create == "500_before_placing":
            raise ContractViolation(500, 20500, "Internal Server Error")
        call = FakeCall("CA" + uuid.uuid4().hex, self.account_sid, form, now, scenario)
        lost = scenario.create in ("500_after_placing", "drop_after_placing")
        if scenario.events_logged:
            call.events.append(self._create_event(call, 500 if lost else 201))
        with self._lock:
            self.calls[call.sid] = call
            self._pending += self._callbacks(call)
        if scenario.create == "500_after_placing":
            raise ContractViolation(500, 20500, "Internal Server Error")
        if scenario.create == "drop_after_placing":
            raise _Drop
        return 201, call.resource(now)

    def _update(
        self, sid: str, form: dict[str, list[str]], now: datetime
    ) -> tuple[int, dict[str, Any]]:
        """Modify a live call: hang it up (``Status=completed``) or give it new TwiML."""
        call = self.calls.get(sid)
        if call is None:
            raise ContractViolation(404, 20404, "The requested resource was not found")
        if call.status_at(now) != "in-progress":
            raise ContractViolation(400, 21220, "Call is not in-progress. Cannot redirect.")
        with self._lock:
            call.updates.append(form)
        return 200, call.resource(now)

    def _create_event(self, call: FakeCall, response_code: int) -> dict[str, Any]:
        """The Events log entry of the create request: its parameters in snake_case, as the
        document's example shows them (how a repeated parameter reads there is
        UNCONFIRMED; the fake joins the values with commas)."""
        return {
            "request": {
                "method": "POST",
                "url": f"https://api.twilio.com/{API_VERSION}/Accounts/{call.account_sid}/Calls.json",
                "parameters": {
                    re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): ",".join(values)
                    for name, values in call.form.items()
                },
            },
            "response": {
                "response_code": response_code,
                "request_duration": 50,
                "content_type": "application/json",
                "response_body": json.dumps({"sid": call.sid}),
                "date_created": _rfc2822(call.created_at),
            },
        }

    def _list(self, query: dict[str, list[str]], now: datetime) -> dict[str, Any]:
        """Calls, most recent first, filtered by To and From."""
        calls = [
            c
            for c in reversed(self.calls.values())
            if all(c.param(k) == v[-1] for k, v in query.items() if k in ("To", "From"))
        ]
        size = int(query.get("PageSize", ["50"])[-1])
        return self._page("calls", [c.resource(now) for c in calls[:size]], "", size)

    def _page(
        self, key: str, items: list[dict[str, Any]], below: str, size: int = 50
    ) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls{'/' + below if below else ''}.json"
        return {
            key: items,
            "end": max(len(items) - 1, 0),
            "first_page_uri": f"{uri}?PageSize={size}&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{uri}?PageSize={size}&Page=0",
        }

    # --- callbacks
    def _callbacks(self, call: FakeCall) -> list[SignedCallback]:
        """The callbacks Twilio sends about this call, in order, as the scenario says."""
        s = call.scenario
        status_url = call.param("StatusCallback")
        wanted = set(call.form.get("StatusCallbackEvent") or ["completed"])
        sent: list[SignedCallback] = []
        if status_url is None:
            return sent
        sequence = iter(range(1000))

        def status(name: str, at: datetime, extra: dict[str, str] | None = None) -> None:
            params = self._status_params(call, name, at, next(sequence))
            sent.append(self._sign(status_url, params | (extra or {})))

        if "initiated" in wanted:
            status("initiated", call.created_at)
        if "ringing" in wanted and s.ring_s:
            status("ringing", call.created_at + timedelta(seconds=1))
        answered = call.answered_at
        if answered is not None:
            if "answered" in wanted:
                status("in-progress", answered)
            amd_url = call.param("AsyncAmdStatusCallback")
            if call.detects_machines and call.param("AsyncAmd") == "true" and amd_url:
                amd = {
                    "AccountSid": call.account_sid,
                    "CallSid": call.sid,
                    "AnsweredBy": s.answered_by,
                    "MachineDetectionDuration": "2150",
                }
                sent.append(self._sign(amd_url, amd))
        if "completed" in wanted and not s.final_never_comes:
            final: dict[str, str] = {}
            if s.final == "completed":
                final["CallDuration"] = str(s.duration_s)
                final["Duration"] = str(math.ceil(s.duration_s / 60))
                if call.detects_machines and s.answered_by_on_status:
                    final["AnsweredBy"] = s.answered_by
            if s.sip_code is not None:
                final["SipResponseCode"] = str(s.sip_code)
            for _ in range(2 if s.duplicate_final else 1):
                status(s.final, call.ended_at, final)
        if s.ringing_after_completed:
            status("ringing", call.created_at + timedelta(seconds=1))
        return sent

    def _status_params(self, call: FakeCall, status: str, at: datetime, seq: int) -> dict[str, str]:
        """A status callback's parameters, as Twilio sends them (blank ones included: they
        are signed too)."""
        return {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status,
            "Called": call.to,
            "CalledCity": "",
            "CalledCountry": "US",
            "CalledState": "",
            "CalledZip": "",
            "Caller": call.from_,
            "CallerCity": "",
            "CallerCountry": "US",
            "CallerState": "",
            "CallerZip": "",
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(seq),
            "Timestamp": _rfc2822(at),
        }

    def _sign(self, url: str, params: dict[str, str]) -> SignedCallback:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
        }
        return SignedCallback(url, headers, urlencode(params).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Drop(Exception):
    """Close the connection without answering."""


def _error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error body, which the SDK turns into ``TwilioRestException``."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _rfc2822(at: datetime) -> str:
    """Twilio's date format: ``Tue, 31 Aug 2010 20:36:28 +0000``."""
    return format_datetime(at.astimezone(UTC))
