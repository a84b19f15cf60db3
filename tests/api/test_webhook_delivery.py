"""Webhook delivery to a real HTTP receiver on loopback, checked with the reference verifier."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from ringcast.api.volubile.translate import call_view
from ringcast.clock import SystemClock, VirtualClock
from ringcast.core import step as tick
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.records import CallRecord, Dialect
from ringcast.services import webhooks
from ringcast.webhooks.deliver import Deliverer
from tests.support import always_open_campaign

ACCOUNT_SECRET = "account-secret-0123456789abcdef"


def volubile_call(call: CallRecord) -> dict[str, Any]:
    """Volubile's call object: the renderer the app gives the deliverer."""
    return call_view(call).model_dump(mode="json")


RENDERERS = {"volubile_call": volubile_call}


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def now_clock() -> VirtualClock:
    # near wall time: the reference verifier refuses timestamps more than 5 minutes off
    return VirtualClock(SystemClock().now())


def ended_call(runtime, clock: VirtualClock, receiver: Receiver, outcome: Outcome) -> str:
    store = runtime.store
    made = always_open_campaign(
        store,
        clock,
        ["+919876543210"],
        name="c",
        dialect=Dialect.SARVAM,
        identifiers=["cust-1"],
        extra={"webhook_config": {"url": f"{receiver.url}/sarvam", "metadata": {"team": "x"}}},
    )
    webhooks.set_account_webhook(
        store, made.org_id, f"{receiver.url}/volubile", ACCOUNT_SECRET, allow_private=True
    )
    now = clock.now()
    writes = store.run_tick(
        made.id,
        now,
        timedelta(seconds=1),
        10,
        lambda snap, v: tick.decide(snap, now, timedelta(seconds=1), v),
    )
    (dial,) = writes.dials
    clock.advance(timedelta(seconds=20))
    result = CallResult(
        dial.attempt.id, outcome, clock.now(), answered_at=now, duration=timedelta(seconds=15)
    )
    store.end_attempt(result, tick.finisher(result))
    return made.org_id


def deliver(runtime, clock, renderers=RENDERERS) -> None:
    async def go() -> None:
        d = Deliverer(runtime.store, clock, allow_private=True, renderers=renderers)
        await d.deliver_due()
        await d.client.aclose()

    asyncio.run(go())


def outbox(runtime) -> list[Any]:
    with runtime.engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select kind, status, deliveries, next_attempt_at, last_error "
                "from webhook_outbox order by kind"
            )
        ).all()


def test_events_are_delivered_signed(runtime, now_clock, receiver: Receiver) -> None:
    """Activation, the Sarvam attempt payload and the Volubile call object all arrive, signed."""
    org_id = ended_call(runtime, now_clock, receiver, Outcome.COMPLETED)
    deliver(runtime, now_clock)
    by_path = {path: (headers, body) for path, headers, body in receiver.requests}
    assert len(receiver.requests) == 3
    secret = runtime.store.signing_secret(org_id, lambda: pytest.fail("secret should exist"))
    for headers, body in by_path.values():
        Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})
    sarvam_bodies = [json.loads(b) for p, _, b in receiver.requests if p == "/sarvam"]
    attempt = next(b for b in sarvam_bodies if "attempt_id" in b)
    assert (
        attempt["connectivity_status"] == "connected"
        and attempt["completion_status"] == "completed"
    )
    assert attempt["user_identifier"] == "cust-1" and attempt["metadata"] == {"team": "x"}
    assert attempt["retry_attempt"] == 0 and attempt["next_action_status"] is None
    assert any(b.get("type") == "campaign.activated" for b in sarvam_bodies)
    headers, body = by_path["/volubile"]
    expected = hmac.new(ACCOUNT_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == expected
    assert json.loads(body)["status"] == "COMPLETED"
    assert {r.status for r in outbox(runtime)} == {"delivered"}


def test_failures_are_retried_then_gone_is_final(runtime, now_clock, receiver: Receiver) -> None:
    """A 500 is retried 5 seconds later with the same webhook-id; a 410 ends the delivery."""
    ended_call(runtime, now_clock, receiver, Outcome.NO_ANSWER)
    receiver.status = 500
    deliver(runtime, now_clock)
    rows = outbox(runtime)
    assert {r.status for r in rows} == {"pending"} and {r.deliveries for r in rows} == {1}
    first_ids = {h["webhook-id"] for _, h, _ in receiver.requests}
    deliver(runtime, now_clock)  # not due yet: nothing is sent
    assert len(receiver.requests) == 3
    now_clock.advance(timedelta(seconds=6))
    receiver.status = 410
    deliver(runtime, now_clock)
    assert {h["webhook-id"] for _, h, _ in receiver.requests[3:]} == first_ids
    assert {r.status for r in outbox(runtime)} == {"failed"}


def test_private_addresses_are_refused_unless_allowed(
    runtime, now_clock, receiver: Receiver
) -> None:
    """Without the setting, a loopback URL is never called, and the recorded reason (the
    tenant's to read) says only that the host is refused."""
    ended_call(runtime, now_clock, receiver, Outcome.COMPLETED)

    async def go() -> None:
        d = Deliverer(runtime.store, now_clock, allow_private=False, renderers=RENDERERS)
        await d.deliver_due()
        await d.client.aclose()

    asyncio.run(go())
    assert receiver.requests == []
    rows = outbox(runtime)
    assert {r.status for r in rows} == {"failed"}
    assert all(r.last_error == "127.0.0.1 is not a public address ringcast may reach" for r in rows)


def test_a_kind_without_a_renderer_fails_at_once(runtime, now_clock, receiver: Receiver) -> None:
    """A Volubile call delivery with no renderer given is failed, not sent nor retried;
    the other deliveries go out."""
    ended_call(runtime, now_clock, receiver, Outcome.COMPLETED)
    deliver(runtime, now_clock, renderers=None)
    assert sorted(path for path, _, _ in receiver.requests) == ["/sarvam", "/sarvam"]
    by_kind = {r.kind: r for r in outbox(runtime)}
    volubile = by_kind["volubile_call"]
    assert (volubile.status, volubile.deliveries) == ("failed", 1)
    assert volubile.last_error == "no renderer was given for volubile_call deliveries"
    assert by_kind["sarvam_attempt"].status == "delivered"
