"""The http gateway end to end: signed dial requests to a runtime (a real HTTP server in a
thread), signed reports back through the ASGI app, and the outcomes they deserve when
the runtime refuses, fails, is slow, or never reports."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import standardwebhooks

from ringcast import signing
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.dispatch.loop import Dispatcher
from ringcast.gateways.http import CALLBACK_PATH, HttpGateway
from tests.support import always_open_campaign, answer, serving

SECRET = signing.new_secret()


class Runtime(BaseHTTPRequestHandler):
    """A voice-agent runtime: answers dial requests as ``mode`` says, records them."""

    mode = "ok"
    received: list[tuple[dict[str, str], bytes]] = []
    asked: list[str] = []
    states: dict[str, dict[str, Any]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Runtime.received.append((dict(self.headers.items()), body))
        if Runtime.mode == "slow":
            time.sleep(0.6)  # the runtime is slow, not our clock
        status, reply = {
            "ok": (200, b'{"call_id": "rt-1"}'),
            "refuse": (422, b"{}"),
            "down": (503, b"{}"),
            "slow": (200, b"{}"),
        }[Runtime.mode]
        answer(self, status, reply)

    def do_GET(self) -> None:
        Runtime.asked.append(self.path)
        attempt_id = self.path.rsplit("/", 1)[-1]
        state = Runtime.states.get(attempt_id)
        answer(self, 200 if state else 404, json.dumps(state or {}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def runtime_url() -> Iterator[str]:
    Runtime.mode, Runtime.received, Runtime.asked, Runtime.states = "ok", [], [], {}
    with serving(Runtime) as url:
        yield url


def dial_once(runtime, clock, url: str) -> tuple[Any, Dispatcher]:
    runtime.settings.http_gateway_secret = SECRET
    campaign = always_open_campaign(
        runtime.store, clock, ["+33612345678"], PacingLimits(attempts_per_second=5)
    )
    gateway = HttpGateway(
        url, SECRET, "http://ringcast.example" + CALLBACK_PATH, timeout=timedelta(seconds=0.3)
    )
    dispatcher = Dispatcher(runtime.store, clock, gateway)

    async def one_pass() -> None:
        await dispatcher.step()
        await dispatcher.drain()

    asyncio.run(one_pass())
    return campaign, dispatcher


def signed(event: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    msg_id = f"msg-{event.get('event')}"
    return body, {
        "content-type": "application/json",
        **signing.headers(msg_id, body, secret, signing.wall_clock()),
    }


def test_a_signed_dial_request_and_signed_reports(runtime, clock, client, runtime_url) -> None:
    """The dial request is signed for the reference verifier; a signed report ends the
    attempt (once, counted once), a forged one is refused, bad ones are 404 or 422."""
    campaign, _ = dial_once(runtime, clock, runtime_url)
    ((headers, body),) = Runtime.received
    request = standardwebhooks.Webhook(SECRET).verify(body, headers)  # the reference verifier
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    assert request["attempt_id"] == attempt.id == headers["webhook-id"]
    assert request["to"] == "+33612345678"
    assert request["agent_id"] == campaign.agent_id and request["agent_version"] == 1
    assert request["variables"] == {"name": "P0"}
    # The campaign's voicemail policy, left to the agent by default.
    assert request["voicemail"] == {
        "action": "agent",
        "message_text": None,
        "message_audio_url": None,
    }
    assert request["callback_url"] == "http://ringcast.example/ringcast/v1/gateway/events"

    for kind in ("ringing", "answered"):
        body, h = signed({"attempt_id": attempt.id, "event": kind})
        assert client.post(CALLBACK_PATH, content=body, headers=h).status_code == 204
    ended_at = (clock.now() + timedelta(seconds=70)).isoformat()
    report = {
        "attempt_id": attempt.id,
        "event": "completed",
        "at": ended_at,
        "duration_s": 62.5,
        "qualifiers": ["callback_requested"],
        "transcript": [{"role": "agent", "text": "Hello"}],
        "extracted": {"slot": "Tuesday"},
    }
    body, h = signed(report)
    forged = dict(h, **{"webhook-signature": signing.sign(signing.new_secret(), "x", 1, body)})
    assert client.post(CALLBACK_PATH, content=body, headers=forged).status_code == 401
    assert client.post(CALLBACK_PATH, content=body, headers=h).status_code == 204
    assert client.post(CALLBACK_PATH, content=body, headers=h).status_code == 204  # repeated
    assert 'ringcast_attempts_total{outcome="completed"} 1.0' in client.get("/metrics").text
    call = runtime.store.get_call(attempt.id)
    assert call.attempt.outcome is Outcome.COMPLETED
    assert call.attempt.duration == timedelta(seconds=62.5)
    assert call.attempt.qualifiers == frozenset({"callback_requested"})
    assert call.transcript == ({"role": "agent", "text": "Hello"},)
    assert call.extracted == {"slot": "Tuesday"}
    body, h = signed({"attempt_id": "nope", "event": "failed"})
    assert client.post(CALLBACK_PATH, content=body, headers=h).status_code == 404
    body, h = signed({"attempt_id": attempt.id, "event": "exploded"})
    assert client.post(CALLBACK_PATH, content=body, headers=h).status_code == 422


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("refuse", Outcome.FAILED),
        ("down", Outcome.PROVIDER_ERROR),
        ("slow", Outcome.PROVIDER_ERROR),
    ],
)
def test_a_dial_refused_failed_or_unanswered_ends_as_it_deserves(
    runtime, clock, runtime_url, mode: str, outcome: Outcome
) -> None:
    """A 4xx ends the attempt ``failed``; a 5xx or no answer in time, ``provider_error``."""
    Runtime.mode = mode
    campaign, _ = dial_once(runtime, clock, runtime_url)
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    assert attempt.outcome is outcome and attempt.ended_at is not None
    assert attempt.failure_reason


def test_a_call_never_reported_is_asked_about_after_its_lease(runtime, clock, runtime_url) -> None:
    """Past its call lease, an attempt nobody reported on ends as the runtime says it did."""
    campaign, dispatcher = dial_once(runtime, clock, runtime_url)
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    Runtime.states[attempt.id] = {"event": "failed", "reason": "no_answer"}
    clock.advance(timedelta(hours=3))  # past the two-hour call lease
    asyncio.run(dispatcher.reconcile(clock.now()))
    (ended,) = runtime.store.campaign_attempts(campaign.id)
    assert ended.outcome is Outcome.NO_ANSWER  # what the runtime said, not internal_error


def test_reconciliation_goes_through_the_private_address_guard(runtime, clock, runtime_url) -> None:
    """A guarded gateway (a customer's runtime URL) does not ask a private address how a
    call ended: the attempt ends ``internal_error`` and the runtime hears no question."""
    campaign, dispatcher = dial_once(runtime, clock, runtime_url)
    (attempt,) = runtime.store.campaign_attempts(campaign.id)
    Runtime.states[attempt.id] = {"event": "failed", "reason": "no_answer"}
    # as a connection's gateway is built; private addresses not allowed
    guarded = HttpGateway(
        runtime_url, SECRET, "http://ringcast.example" + CALLBACK_PATH, guard=True
    )
    assert asyncio.run(guarded.call_state(attempt.id, clock.now())) is None
    dispatcher.gateway = guarded
    clock.advance(timedelta(hours=3))
    asyncio.run(dispatcher.reconcile(clock.now()))
    (ended,) = runtime.store.campaign_attempts(campaign.id)
    assert ended.outcome is Outcome.INTERNAL_ERROR
    assert Runtime.asked == []

    allowed = HttpGateway(  # a deployment that allows them asks as before
        runtime_url,
        SECRET,
        "http://ringcast.example" + CALLBACK_PATH,
        guard=True,
        allow_private=True,
    )
    assert asyncio.run(allowed.call_state(attempt.id, clock.now())) is not None
    assert Runtime.asked == [f"/calls/{attempt.id}"]
