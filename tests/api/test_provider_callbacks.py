"""Provider callbacks through the app: Twilio, LiveKit and Retell reports, signed as each
provider signs them (the fakes' own signing), end the attempt they name once; a forged or
unsigned one is 401, an oversized one 413 before it is read whole, and a report for another
organization's attempt through a connection of the same id is 404."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI

from ringcast import signing
from ringcast.api.native.provider_callbacks import MAX_BODY
from ringcast.clock import VirtualClock
from ringcast.core.model import Attempt, VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.routing import Route
from ringcast.dispatch.loop import Dispatcher
from ringcast.gateways.base import Accepted, CallGateway, DialRequest
from ringcast.gateways.livekit import LiveKitGateway, LiveKitSettings
from ringcast.gateways.livekit_agent import agent_report_headers, agent_report_payload
from ringcast.gateways.provider_settings import RetellSettings
from ringcast.gateways.retell import RetellGateway
from ringcast.gateways.twilio import TwilioGateway, TwilioSettings
from ringcast.records import Connection
from ringcast.runtime import Runtime
from tests.fakes import livekit_fake
from tests.fakes.retell_fake import RetellFake
from tests.fakes.twilio_fake import SCENARIOS, SignedCallback, TwilioFake
from tests.support import always_open_campaign

from .conftest import Account

PUBLIC_URL = "https://ringcast.example.com"
CALLER = "+33186950000"
HUMAN, MACHINE = "+33612345678", "+33612345679"
RETELL_KEY = "key_retell_test_0123456789"
CONNECTIONS = "/ringcast/v1/connections"
Gateway = TwilioGateway | LiveKitGateway | RetellGateway


def callback_url(gateway: str, connection_id: str) -> str:
    return f"{PUBLIC_URL}/ringcast/v1/gateway/{gateway}/{connection_id}"


def build(connection: Connection, clock: VirtualClock) -> Gateway:
    """A provider gateway straight from a connection's stored settings, with the callback URL
    ringcast gives the provider."""
    url = callback_url(connection.gateway, connection.id)
    if connection.gateway == "twilio":
        return TwilioGateway(
            settings(TwilioSettings, connection.settings), url, clock_now=clock.now
        )
    if connection.gateway == "livekit":
        kit = settings(LiveKitSettings, connection.settings)
        return LiveKitGateway(kit, url, clock_now=clock.now)
    return RetellGateway(settings(RetellSettings, connection.settings), url, clock_now=clock.now)


def settings(kind: Any, stored: Mapping[str, Any]) -> Any:
    return kind(**{f.name: stored[f.name] for f in dataclasses.fields(kind) if f.name in stored})


class Recorded:
    """A gateway, and the URLs the route asked it to read reports at."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.urls: list[str] = []

    def read_callback(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Any:
        self.urls.append(url)
        return self.gateway.read_callback(url, headers, body, now)

    async def answer_machine(self, call_id: str, policy: VoicemailPolicy) -> None:
        await self.gateway.answer_machine(call_id, policy)


class Gateways:
    """What the server's ConnectionGateways.gateway_for gives the route: one gateway per
    connection, kept (Twilio's answering-machine verdict is remembered until the end)."""

    def __init__(self, runtime: Runtime, clock: VirtualClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.built: dict[tuple[str, str], Recorded] = {}

    async def gateway_for(self, org_id: str, connection_id: str) -> Recorded | None:
        if (org_id, connection_id) not in self.built:
            connection = self.runtime.store.get_connection(org_id, connection_id)
            if connection is None:
                return None
            self.built[org_id, connection_id] = Recorded(build(connection, self.clock))
        return self.built[org_id, connection_id]

    def close(self) -> None:
        for built in self.built.values():
            asyncio.run(built.gateway.aclose())


@pytest.fixture
def wired(
    app: FastAPI, runtime: Runtime, clock: VirtualClock, account: Account, other_account: Account
) -> Iterator[Gateways]:
    """The app's provider gateways, on loopback fakes (connections are found by the store)."""
    runtime.settings.webhooks_allow_private = True
    runtime.settings.public_url = PUBLIC_URL
    gateways = Gateways(runtime, clock)
    app.state.provider_gateways = gateways
    yield gateways
    gateways.close()


class Silent(CallGateway):
    """Accepts every dial and never reports: the provider's report is the test's to send."""

    async def place_call(self, request: DialRequest) -> Accepted:
        return Accepted(f"silent-{request.attempt_id}")


def in_flight(runtime: Runtime, clock: VirtualClock, connection_id: str, *phones: str) -> list[str]:
    """Dial one attempt per phone out through ``connection_id``; their ids, in phone order."""
    campaign = always_open_campaign(
        runtime.store,
        clock,
        phones,
        PacingLimits(attempts_per_second=50),
        routes=[Route(connection_id, (CALLER,))],
    )
    dispatcher = Dispatcher(runtime.store, clock, Silent())

    async def one_pass() -> None:
        await dispatcher.step()
        await dispatcher.drain()

    asyncio.run(one_pass())
    calls = [runtime.store.get_call(a.id) for a in runtime.store.campaign_attempts(campaign.id)]
    assert all(c is not None and c.attempt.connection_id == connection_id for c in calls)
    return [c.attempt.id for p in phones for c in calls if c is not None and c.phone == p]


def attempt(runtime: Runtime, attempt_id: str) -> Attempt:
    call = runtime.store.get_call(attempt_id)
    assert call is not None
    return call.attempt


def register(client: Any, account: Account, connection_id: str, body: dict[str, Any]) -> None:
    r = client.put(f"{CONNECTIONS}/{connection_id}", json=body, headers=account.headers)
    assert r.status_code in (200, 201), r.text


def twilio_body(fake: TwilioFake) -> dict[str, Any]:
    block = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "answer_url": "https://agent.example.com/twiml",
        "machine_detection": "DetectMessageEnd",
        "api_base_url": fake.url,
    }
    return {"gateway": "twilio", "twilio": block}


def twilio_reports(fake: TwilioFake, clock: VirtualClock, attempt_id: str, to: str) -> list[Any]:
    """Place ``attempt_id``'s call on the fake, as the connection's gateway would; the signed
    callbacks Twilio then sends about it."""
    placing = TwilioGateway(
        TwilioSettings(
            account_sid=fake.account_sid,
            auth_token=fake.auth_token,
            answer_url="https://agent.example.com/twiml",
            machine_detection="DetectMessageEnd",
            api_base_url=fake.url,
        ),
        callback_url("twilio", "trunk"),
        clock_now=clock.now,
    )
    request = DialRequest(attempt_id, to, CALLER, "trunk", "campaign", "agent", 1)

    async def place() -> None:
        await placing.place_call(request)
        await placing.aclose()

    asyncio.run(place())
    return fake.pop_callbacks()


def post(client: Any, callback: SignedCallback, **header_changes: str | None) -> int:
    """POST a callback where Twilio would, at the path and query of the URL ringcast gave it."""
    parts = urlsplit(callback.url)
    headers = {k: v for k, v in {**callback.headers, **header_changes}.items() if v is not None}
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    status: int = client.post(target, content=callback.body, headers=headers).status_code
    return status


@pytest.fixture
def twilio_fake(clock: VirtualClock) -> Iterator[TwilioFake]:
    fake = TwilioFake(clock.now)
    fake.script[MACHINE] = SCENARIOS["amd_only_async"]  # the verdict comes on /amd only
    with fake.serving():
        yield fake
    assert fake.contract_errors == []


def test_a_signed_twilio_report_ends_its_attempt_once(
    runtime, clock, client, account: Account, wired: Gateways, twilio_fake: TwilioFake
) -> None:
    """Twilio's signed status and answering-machine callbacks reach the connection's gateway:
    the final one ends the attempt (a verdict heard only on /amd makes it a voicemail), a
    repeat changes nothing, and a forged or unsigned one is refused with 401."""
    register(client, account, "trunk", twilio_body(twilio_fake))
    human, machine = in_flight(runtime, clock, "trunk", HUMAN, MACHINE)
    for attempt_id, to in [(human, HUMAN), (machine, MACHINE)]:
        callbacks = twilio_reports(twilio_fake, clock, attempt_id, to)
        assert any(urlsplit(c.url).path.endswith("/amd") for c in callbacks)
        assert [post(client, c) for c in callbacks] == [204] * len(callbacks)
    ended = attempt(runtime, human)
    assert ended.outcome is Outcome.COMPLETED and ended.ended_at is not None
    assert ended.duration == timedelta(seconds=42)
    assert attempt(runtime, machine).outcome is Outcome.VOICEMAIL
    final = twilio_reports(twilio_fake, clock, human, HUMAN)[-1]
    assert final.params["CallStatus"] == "completed"
    assert post(client, final) == 204  # a repeat: accepted, and nothing changes
    assert attempt(runtime, human) == ended
    counted = client.get("/metrics").text
    assert 'ringcast_attempts_total{outcome="completed"} 1.0' in counted
    forged = final.headers["X-Twilio-Signature"][::-1]
    assert post(client, final, **{"X-Twilio-Signature": forged}) == 401
    assert post(client, final, **{"X-Twilio-Signature": None}) == 401
    # The test client's requests arrive at http://testserver: the URL read is the public one.
    (read,) = [g.urls for g in wired.built.values()]
    base = f"{PUBLIC_URL}/ringcast/v1/gateway/twilio/trunk"
    assert read[0] == f"{base}?attempt_id={human}"
    assert f"{base}/amd?attempt_id={machine}" in read


def test_a_machine_verdict_carries_out_the_campaigns_voicemail_policy(
    runtime, clock, client, account: Account, wired: Gateways, twilio_fake: TwilioFake
) -> None:
    """A campaign set to hang up on machines: Twilio's verdict on /amd makes ringcast hang
    the live call up through Twilio's API; a verdict repeated after the call ended is still
    acknowledged (204), Twilio's refusal only logged."""
    register(client, account, "trunk", twilio_body(twilio_fake))
    (machine,) = in_flight(runtime, clock, "trunk", MACHINE)
    campaign_id = attempt(runtime, machine).campaign_id
    hangup = {"action": "hangup", "retry_on_voicemail": False, "retry_on_rejected": False}
    r = client.put(
        f"/ringcast/v1/campaigns/{campaign_id}/voicemail", json=hangup, headers=account.headers
    )
    assert r.status_code == 200, r.text
    placed_at = clock.now()
    callbacks = twilio_reports(twilio_fake, clock, machine, MACHINE)
    (verdict,) = [c for c in callbacks if urlsplit(c.url).path.endswith("/amd")]
    (call,) = twilio_fake.calls_to(MACHINE)
    clock.set(placed_at + timedelta(seconds=10))  # answered, the greeting going on
    assert post(client, verdict) == 204
    assert call.updates == [{"Status": ["completed"]}]
    clock.set(placed_at + timedelta(minutes=10))  # the call is over: Twilio refuses
    assert post(client, verdict) == 204
    assert call.updates == [{"Status": ["completed"]}]


def test_a_report_for_another_organizations_attempt_is_404(
    runtime,
    clock,
    client,
    account: Account,
    other_account: Account,
    wired: Gateways,
    twilio_fake: TwilioFake,
) -> None:
    """An organization that registers a connection with another's id and signs a report with
    its own token about the other's attempt gets the unknown attempt's 404, and the attempt goes
    on; the owner's own report still ends it."""
    register(client, account, "trunk", twilio_body(twilio_fake))
    (victim,) = in_flight(runtime, clock, "trunk", HUMAN)
    intruder = TwilioFake(clock.now, auth_token="intruder-auth-token-0123456789")
    with intruder.serving():
        register(client, other_account, "trunk", twilio_body(intruder))
        forged = twilio_reports(intruder, clock, victim, HUMAN)
        unknown = twilio_reports(intruder, clock, "no-such-attempt", HUMAN)
    assert [post(client, c) for c in forged] == [404] * len(forged)
    assert [post(client, c) for c in unknown] == [404] * len(unknown)
    assert attempt(runtime, victim).outcome is Outcome.IN_PROGRESS
    assert [post(client, c) for c in twilio_reports(twilio_fake, clock, victim, HUMAN)] == [204] * 5
    assert attempt(runtime, victim).outcome is Outcome.COMPLETED


def test_a_livekit_agent_report_ends_its_attempt_once(
    runtime, clock, client, account: Account, wired: Gateways
) -> None:
    """The agent's report, signed with the LiveKit key pair as LiveKit signs its webhooks, ends
    the attempt once; a report signed with another secret, unsigned, or sent to a connection
    nobody registered is 401, a signed report that names no attempt is 400, and a webhook
    about a room ringcast did not make is acknowledged."""
    block = {
        "url": "http://127.0.0.1:7880",
        "api_key": livekit_fake.API_KEY,
        "api_secret": livekit_fake.API_SECRET,
        "sip_trunk_id": livekit_fake.TRUNK_ID,
        "agent_name": livekit_fake.AGENT_NAME,
    }
    register(client, account, "lk", {"gateway": "livekit", "livekit": block})
    (attempt_id,) = in_flight(runtime, clock, "lk", HUMAN)
    path = "/ringcast/v1/gateway/livekit/lk"
    body = agent_report_payload(
        attempt_id, "completed", amd_category="human", duration_s=30, qualifiers=["interested"]
    )
    signed = agent_report_headers(body, livekit_fake.API_KEY, livekit_fake.API_SECRET)
    assert client.post(path, content=body, headers=signed).status_code == 204
    ended = attempt(runtime, attempt_id)
    assert ended.outcome is Outcome.COMPLETED and ended.qualifiers == {"interested"}
    assert client.post(path, content=body, headers=signed).status_code == 204
    assert attempt(runtime, attempt_id) == ended
    other = agent_report_headers(body, livekit_fake.API_KEY, "another-secret-long-enough-for-hs256")
    assert client.post(path, content=body, headers=other).status_code == 401
    assert client.post(path, content=body).status_code == 401
    elsewhere = path.replace("/lk", "/not-registered")
    assert client.post(elsewhere, content=body, headers=signed).status_code == 401
    unreadable = b'{"event": "ringcast_agent_report", "outcome": "completed"}'
    headers = agent_report_headers(unreadable, livekit_fake.API_KEY, livekit_fake.API_SECRET)
    assert client.post(path, content=unreadable, headers=headers).status_code == 400
    fake = livekit_fake.FakeLiveKit(PUBLIC_URL + path, signing.wall_clock)
    stranger = fake.signed_webhook("room_finished", "someone-elses-room")
    assert client.post(path, content=stranger.body, headers=stranger.headers).status_code == 204


def test_a_retell_report_ends_its_attempt_once(
    runtime, clock, client, account: Account, wired: Gateways
) -> None:
    """A Retell call_ended webhook signed with the connection's API key ends the attempt once;
    one signed with another key is 401, and a report on a call ringcast did not place (no
    attempt id in its metadata) is acknowledged."""
    block = {"api_key": RETELL_KEY, "agent_id": "agent_1", "api_base_url": "http://127.0.0.1:9"}
    register(client, account, "rt", {"gateway": "retell", "retell": block})
    (attempt_id,) = in_flight(runtime, clock, "rt", HUMAN)
    path = "/ringcast/v1/gateway/retell/rt"
    start = signing.wall_clock() - timedelta(minutes=1)
    call = {
        "call_id": "call_1",
        "agent_id": "agent_1",
        "call_status": "ended",
        "disconnection_reason": "dial_busy",
        "start_timestamp": ms(start),
        "end_timestamp": ms(start + timedelta(seconds=5)),
        "metadata": {"attempt_id": attempt_id},
    }
    retell = RetellFake(RETELL_KEY, "agent_1", signing.wall_clock)
    impostor = RetellFake("key_someone_else_0123456789", "agent_1", signing.wall_clock)
    try:
        report = retell.sign("call_ended", call)
        assert client.post(path, content=report.body, headers=report.headers).status_code == 204
        ended = attempt(runtime, attempt_id)
        assert ended.outcome is Outcome.BUSY
        assert client.post(path, content=report.body, headers=report.headers).status_code == 204
        assert attempt(runtime, attempt_id) == ended
        forged = impostor.sign("call_ended", call)
        assert client.post(path, content=forged.body, headers=forged.headers).status_code == 401
        theirs = retell.sign("call_ended", {**call, "call_id": "call_2", "metadata": {}})
        assert client.post(path, content=theirs.body, headers=theirs.headers).status_code == 204
    finally:
        retell.stop()
        impostor.stop()


def test_retells_analysis_after_the_end_fills_in_the_call(
    runtime, clock, client, account: Account, wired: Gateways
) -> None:
    """call_ended ends the attempt; the call_analyzed that follows (Retell's second final)
    adds its summary, extracted values and qualifiers to the ended attempt without changing
    its outcome, and repeating it changes nothing more."""
    block = {"api_key": RETELL_KEY, "agent_id": "agent_1", "api_base_url": "http://127.0.0.1:9"}
    register(client, account, "rt", {"gateway": "retell", "retell": block})
    (attempt_id,) = in_flight(runtime, clock, "rt", HUMAN)
    path = "/ringcast/v1/gateway/retell/rt"
    start = signing.wall_clock() - timedelta(minutes=2)
    call = {
        "call_id": "call_1",
        "agent_id": "agent_1",
        "call_status": "ended",
        "disconnection_reason": "user_hangup",
        "start_timestamp": ms(start),
        "end_timestamp": ms(start + timedelta(seconds=40)),
        "transcript_object": [{"role": "agent", "content": "Hello", "words": []}],
        "metadata": {"attempt_id": attempt_id},
    }
    analysis = {
        "call_summary": "Wants a call back on Friday.",
        "custom_analysis_data": {"interested": True, "best_day": "friday"},
        "user_sentiment": "Positive",
        "in_voicemail": False,
    }
    retell = RetellFake(RETELL_KEY, "agent_1", signing.wall_clock)
    try:
        ended = retell.sign("call_ended", call)
        assert client.post(path, content=ended.body, headers=ended.headers).status_code == 204
        first = runtime.store.get_call(attempt_id)
        assert first is not None and first.attempt.outcome is Outcome.COMPLETED
        assert first.summary is None and first.extracted == {}
        analyzed = retell.sign("call_analyzed", {**call, "call_analysis": analysis})
        for _ in range(2):
            posted = client.post(path, content=analyzed.body, headers=analyzed.headers)
            assert posted.status_code == 204
        filled = runtime.store.get_call(attempt_id)
        assert filled is not None
        assert filled.summary == "Wants a call back on Friday."
        assert filled.extracted == {
            "interested": True,
            "best_day": "friday",
            "user_sentiment": "Positive",
        }
        assert "interested" in filled.attempt.qualifiers
        assert filled.transcript == first.transcript and len(filled.transcript) == 1
        assert filled.attempt.outcome is Outcome.COMPLETED
        assert filled.attempt.ended_at == first.attempt.ended_at
    finally:
        retell.stop()


def test_an_oversized_report_is_refused_before_it_is_read_whole(
    app: FastAPI, client, account: Account, wired: Gateways
) -> None:
    """A report over the bound is 413: at once when its declared length says so, and after at
    most the bound's worth of chunks when it comes without a length."""
    path = "/ringcast/v1/gateway/retell/rt"
    assert client.post(path, content=b"{" + b" " * MAX_BODY).status_code == 413
    chunk, chunks = b" " * 65536, 64  # 4 MiB, announced by no length
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"ringcast.example.com"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("ringcast.example.com", 443),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled <= MAX_BODY // len(chunk) + 1 < chunks


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
