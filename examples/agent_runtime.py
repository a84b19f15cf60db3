"""A minimal voice-agent runtime for ringcast's ``http`` gateway, in the standard library only.

Run ringcast with ``RINGCAST_GATEWAY=http`` pointing at it (README, "Your own agent
runtime"), and every call a campaign places comes here:

1. ringcast POSTs ``{url}/calls`` with ``{"attempt_id", "to", "from", "connection_id",
   "campaign_id", "agent_id", "agent_version", "variables", "voicemail", "callback_url"}``,
   signed with Standard Webhooks headers (``webhook-id`` is the attempt id). This runtime
   checks the signature (401 otherwise), answers 200 ``{"call_id"}`` at once, and places the
   call in the background. The attempt id is the idempotency key: a dial it has seen is
   answered again with the same call id and placed only once.
2. It reports what happens to ``callback_url`` (ringcast's
   ``{public_url}/ringcast/v1/gateway/events``), each report signed with the same secret:
   ``{"attempt_id", "event": "ringing" | "answered" | "completed" | "failed", "at", ...}``;
   ``completed`` carries ``duration_s``, ``qualifiers``, ``transcript`` and ``extracted``,
   ``failed`` a ``reason`` (``no_answer``, ``busy``, ``voicemail``, ``rejected``,
   ``unreachable``, ``provider_error``, or anything else for ``failed``).
3. ``GET /calls/{attempt_id}`` answers the last report it made about a call (404 if it
   never heard of it): ringcast asks when a call's report never came.

Here "placing a call" is a few seconds of pretend conversation (``converse``): put your
telephony and your agent there. Every number whose last digit is 9 does not answer, to
show a failure report.

    python3 examples/agent_runtime.py --port 8700

The secret comes from ``--secret`` or ``RINGCAST_HTTP_GATEWAY_SECRET`` (the variable
ringcast reads, so one ``export`` serves both).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: how far a signature's timestamp may stray from our clock (Standard Webhooks' default)
TOLERANCE_S = 5 * 60
MAX_BODY = 1024 * 1024


def hmac_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: the base64 after the prefix."""
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def signature(secret: str, msg_id: str, stamp: int, body: bytes) -> str:
    """The Standard Webhooks ``v1,`` signature of one message."""
    signed = f"{msg_id}.{stamp}.".encode() + body
    return (
        "v1,"
        + base64.b64encode(hmac.new(hmac_key(secret), signed, hashlib.sha256).digest()).decode()
    )


def genuine(secret: str, headers: Any, body: bytes) -> bool:
    """Whether a request carries a valid, recent signature by ``secret``."""
    msg_id = headers.get("webhook-id") or ""
    stamp = headers.get("webhook-timestamp") or ""
    if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_S:  # noqa: TID251 (no Clock here: stdlib only)
        return False
    expected = signature(secret, msg_id, int(stamp), body)
    offered = (headers.get("webhook-signature") or "").split()
    return any(hmac.compare_digest(expected, s) for s in offered)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()  # noqa: TID251 (a standalone program's wall clock)


class Runtime:
    """The calls this runtime placed, by attempt id, and how to report on them."""

    def __init__(self, secret: str, ring_s: float, talk_s: float) -> None:
        self.secret = secret
        self.ring_s = ring_s
        self.talk_s = talk_s
        self.lock = threading.Lock()
        self.calls: dict[str, dict[str, Any]] = {}  # attempt id -> last report

    def dial(self, request: dict[str, Any]) -> str:
        """Accept a dial request; place the call unless this attempt was seen already."""
        attempt_id = str(request["attempt_id"])
        with self.lock:
            if attempt_id in self.calls:
                return attempt_id  # a repeated dial: same call, never a second one
            self.calls[attempt_id] = {"attempt_id": attempt_id, "event": "dialing"}
        threading.Thread(target=self.converse, args=(request,), daemon=True).start()
        return attempt_id

    def converse(self, request: dict[str, Any]) -> None:
        """Place the call and hold the conversation; here, a pretend one."""
        attempt_id, url = str(request["attempt_id"]), str(request["callback_url"])
        variables = request.get("variables") or {}
        self.report(url, {"attempt_id": attempt_id, "event": "ringing", "at": now_iso()})
        time.sleep(self.ring_s)
        if str(request.get("to", "")).endswith("9"):
            self.report(
                url,
                {
                    "attempt_id": attempt_id,
                    "event": "failed",
                    "reason": "no_answer",
                    "at": now_iso(),
                },
            )
            return
        answered_at = now_iso()
        self.report(url, {"attempt_id": attempt_id, "event": "answered", "at": answered_at})
        time.sleep(self.talk_s)
        name = variables.get("firstName", "there")
        order = variables.get("orderNumber", "your order")
        self.report(
            url,
            {
                "attempt_id": attempt_id,
                "event": "completed",
                "at": now_iso(),
                "answered_at": answered_at,
                "duration_s": self.talk_s,
                "qualifiers": ["delivery_confirmed"],
                "transcript": [
                    {"role": "agent", "text": f"Hello {name}, order {order} is ready."},
                    {"role": "user", "text": "Tomorrow is fine, thank you."},
                ],
                "extracted": {"delivery_day": "tomorrow"},
            },
        )

    def report(self, url: str, event: dict[str, Any]) -> None:
        """Send one signed report, retrying a few times while ringcast is unreachable."""
        with self.lock:
            self.calls[event["attempt_id"]] = event
        body = json.dumps(event).encode()
        msg_id = f"{event['attempt_id']}-{event['event']}"
        for wait in (0.5, 1, 2, 4, 8, None):
            stamp = int(time.time())  # noqa: TID251 (the stamp ringcast checks)
            request = urllib.request.Request(  # noqa: S310 (ringcast's callback URL, http or https)
                url,
                data=body,
                method="POST",
                headers={
                    "content-type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": signature(self.secret, msg_id, stamp, body),
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310 (as above)
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:  # refused for good (a 401 is a wrong secret): say so
                    log(f"report {event['event']} for {event['attempt_id']}: HTTP {exc.code}")
                    return
            except OSError:
                pass
            if wait is None:
                log(f"report {event['event']} for {event['attempt_id']}: gave up")
                return
            time.sleep(wait)

    def last_report(self, attempt_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.calls.get(attempt_id)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    #: the standard library's backlog of 5 makes a burst of dials wait for the kernel to
    #: retry their connections (1 s, 3 s, ...), past ringcast's 5 s dial timeout
    request_queue_size = 128


def handler(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/calls":
                return self.answer(404, {"detail": "not found"})
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                return self.answer(413, {"detail": "body too large"})
            body = self.rfile.read(length)
            if not genuine(runtime.secret, self.headers, body):
                return self.answer(401, {"detail": "missing or invalid signature"})
            try:
                request = json.loads(body)
                call_id = runtime.dial(request)
            except (ValueError, KeyError, TypeError):
                return self.answer(400, {"detail": "not a dial request"})
            log(f"dialling {request.get('to')} for attempt {call_id}")
            return self.answer(200, {"call_id": call_id})

        def do_GET(self) -> None:
            prefix = "/calls/"
            found = self.path.startswith(prefix) and runtime.last_report(self.path[len(prefix) :])
            if not found:
                return self.answer(404, {"detail": "no such call"})
            return self.answer(200, found)

        def answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per call is logged by do_POST

    return Handler


def log(line: str) -> None:
    sys.stderr.write(f"agent_runtime: {line}\n")
    sys.stderr.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument(
        "--secret",
        default=os.environ.get("RINGCAST_HTTP_GATEWAY_SECRET"),
        help="whsec_... (default: $RINGCAST_HTTP_GATEWAY_SECRET)",
    )
    parser.add_argument("--ring-seconds", type=float, default=1.0)
    parser.add_argument("--talk-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if not args.secret:
        parser.error("give --secret or set RINGCAST_HTTP_GATEWAY_SECRET")
    try:
        hmac_key(args.secret)
    except ValueError:
        parser.error("the secret must be whsec_ followed by base64")
    runtime = Runtime(args.secret, args.ring_seconds, args.talk_seconds)
    server = Server((args.host, args.port), handler(runtime))
    log(f"listening on http://{args.host}:{server.server_address[1]}/calls")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
