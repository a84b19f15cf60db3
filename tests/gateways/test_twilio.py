"""The twilio gateway driven through the real SDK against the contract fake: each scripted
call ends with the outcome and evidence it deserves, every callback is verified before it
is read, and no failure of Twilio's makes the gateway place a call twice."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ringcast.core.model import Attempt, VoicemailAction, VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import (
    Accepted,
    CallbackReading,
    CallbackUnreadable,
    DialRequest,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
)
from ringcast.gateways.twilio import TwilioGateway, TwilioSettings
from ringcast.records import CallRecord
from tests.fakes.twilio_fake import SCENARIOS, SignedCallback, TwilioFake
from tests.support import answer, serving

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CALLBACK_URL = "https://ringcast.example.com/ringcast/v1/gateway/twilio/paris"
CALLER = "+15005550006"
NUMBER = "+15551230001"


class Clock:
    """Time for the gateway and the fake, moved by the test."""

    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[TwilioFake]:
    twilio = TwilioFake(clock.now)
    with twilio.serving():
        yield twilio
    assert twilio.contract_errors == []


def settings_for(fake: TwilioFake, **changes: Any) -> TwilioSettings:
    settings = TwilioSettings(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        answer_url="https://agent.example.com/twiml",
        machine_detection="DetectMessageEnd",
        api_base_url=fake.url,
    )
    return replace(settings, **changes)


class Gateways:
    """Builds gateways on the fake and closes them after the test."""

    def __init__(self, fake: TwilioFake, clock: Clock) -> None:
        self.fake = fake
        self.clock = clock
        self.built: list[TwilioGateway] = []

    def __call__(self, callback_url: str = CALLBACK_URL, **changes: Any) -> TwilioGateway:
        gateway = TwilioGateway(
            settings_for(self.fake, **changes),
            callback_url,
            clock_now=self.clock.now,
            lookup_backoff=timedelta(0),
        )
        self.built.append(gateway)
        return gateway


@pytest.fixture
def gateways(fake: TwilioFake, clock: Clock) -> Iterator[Gateways]:
    built = Gateways(fake, clock)
    yield built
    for gateway in built.built:
        asyncio.run(gateway.aclose())


def request(to: str = NUMBER, attempt_id: str = "attempt-1") -> DialRequest:
    return DialRequest(
        attempt_id=attempt_id,
        to=to,
        caller=CALLER,
        connection_id="paris",
        campaign_id="campaign-1",
        agent_id="agent-1",
        agent_version=1,
    )


def record_of(
    attempt_id: str, *, phone: str = NUMBER, dialled_at: datetime = START, sid: str | None = None
) -> CallRecord:
    """The store's record of an attempt dialled from CALLER, as reconciliation reads it."""
    attempt = Attempt(
        attempt_id,
        "contact-1",
        "campaign-1",
        0,
        dialled_at,
        dialed_at=dialled_at,
        connection_id="paris",
        caller_number=CALLER,
        gateway_call_id=sid,
    )
    return CallRecord(attempt, "org-1", "agent-1", "campaign", phone, {}, dialled_at)


def read_all(gateway: TwilioGateway, fake: TwilioFake, clock: Clock) -> list[CallbackReading]:
    return [
        gateway.read_callback(c.url, c.headers, c.body, clock.now()) for c in fake.pop_callbacks()
    ]


def finals(readings: list[CallbackReading]) -> list[CallResult]:
    return [r.final for r in readings if r.final is not None]


def dial(
    gateway: TwilioGateway,
    fake: TwilioFake,
    clock: Clock,
    scenario: str,
    to: str = NUMBER,
    attempt_id: str = "attempt-1",
) -> tuple[Accepted, list[CallbackReading]]:
    fake.script[to] = SCENARIOS[scenario]
    accepted = asyncio.run(gateway.place_call(request(to, attempt_id)))
    return accepted, read_all(gateway, fake, clock)


# --- outcomes --------------------------------------------------------------------------

OUTCOMES = [
    ("human", Outcome.COMPLETED, "human", "completed;answered_by=human"),
    ("voicemail", Outcome.VOICEMAIL, "machine", "completed;answered_by=machine_end_beep"),
    ("fax", Outcome.UNREACHABLE, "fax", "completed;answered_by=fax"),
    ("busy", Outcome.BUSY, None, "busy;sip=486"),
    ("no_answer", Outcome.NO_ANSWER, None, "no-answer;sip=487"),
    ("rejected", Outcome.REJECTED, None, "busy;sip=603"),
    ("failed", Outcome.FAILED, None, "failed;sip=503"),
    ("unreachable", Outcome.UNREACHABLE, None, "failed;sip=404"),
    ("busy_after_answer", Outcome.BUSY, "human", "busy;sip=486;answered_by=human"),
    ("amd_only_async", Outcome.VOICEMAIL, "machine", "completed;answered_by=machine_end_silence"),
]


@pytest.mark.parametrize(("scenario", "outcome", "who", "code"), OUTCOMES)
def test_each_scripted_call_ends_with_its_outcome_and_evidence(
    fake: TwilioFake,
    gateways: Gateways,
    clock: Clock,
    scenario: str,
    outcome: Outcome,
    who: str | None,
    code: str,
) -> None:
    """Every scripted call ends once, with the outcome, answered_by and raw Twilio code
    its status callbacks (and AMD verdict) carry."""
    accepted, readings = dial(gateways(), fake, clock, scenario)
    [result] = finals(readings)
    assert (result.outcome, result.answered_by, result.provider_code) == (outcome, who, code)
    assert result.attempt_id == "attempt-1"
    assert result.gateway_call_id == accepted.gateway_call_id == next(iter(fake.calls))
    call = fake.calls[accepted.gateway_call_id]
    assert result.ended_at == call.ended_at
    if call.scenario.final == "completed":  # connected: to a person, a machine or a fax
        assert result.duration == timedelta(seconds=call.scenario.duration_s)
        assert result.answered_at == call.answered_at
    else:
        assert result.duration is None


def test_create_carries_the_attempt_in_its_callbacks_and_follows_the_contract(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """The create names the attempt in both callback URLs, asks for every progress event
    and asynchronous AMD, and passes the ring timeout and time limit."""
    gateway = gateways(ring_timeout_s=25, time_limit_s=900)
    dial(gateway, fake, clock, "human", attempt_id="a-42")
    [call] = fake.calls.values()
    assert call.form["StatusCallback"] == [f"{CALLBACK_URL}?attempt_id=a-42"]
    assert call.form["AsyncAmdStatusCallback"] == [f"{CALLBACK_URL}/amd?attempt_id=a-42"]
    assert call.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert call.form["MachineDetection"] == ["DetectMessageEnd"]
    assert call.form["AsyncAmd"] == ["true"]
    assert call.form["Timeout"] == ["25"]
    assert call.form["TimeLimit"] == ["900"]
    assert call.form["Url"] == ["https://agent.example.com/twiml"]
    assert (call.to, call.from_) == (NUMBER, CALLER)


def test_twiml_replaces_the_answer_url_and_no_detection_sends_no_amd(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A connection with inline TwiML and no machine detection sends Twiml, no Url and no
    AMD parameters, and its answered call has no answered_by evidence."""
    twiml = '<Response><Connect><Stream url="wss://agent.example.com/s"/></Connect></Response>'
    gateway = gateways(answer_url=None, twiml=twiml, machine_detection=None)
    _, readings = dial(gateway, fake, clock, "voicemail")
    [call] = fake.calls.values()
    assert call.form["Twiml"] == [twiml]
    assert not {"Url", "MachineDetection", "AsyncAmd", "AsyncAmdStatusCallback"} & set(call.form)
    [result] = finals(readings)
    assert (result.outcome, result.answered_by) == (Outcome.COMPLETED, None)


def test_progress_reports_are_progress_only(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """initiated, ringing, answered and the AMD verdict read as progress, never as an end."""
    _, readings = dial(gateways(), fake, clock, "voicemail")
    progress = [r.progress for r in readings if r.final is None]
    assert progress == ["initiated", "ringing", "answered", "answered_by:machine"]
    assert all(r.final is None for r in readings[:-1])


def test_a_duplicate_final_report_reads_the_same_twice(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A final report Twilio sends twice parses twice to the same end (the store keeps one),
    handed to an async function the way the app's "calls ended" path takes them."""
    gateway = gateways()
    fake.script[NUMBER] = SCENARIOS["duplicate_final"]
    asyncio.run(gateway.place_call(request()))
    readings: list[CallbackReading] = []

    async def calls_ended(callback: SignedCallback) -> None:
        readings.append(gateway.read_callback(callback.url, callback.headers, callback.body, START))

    assert asyncio.run(fake.deliver(calls_ended)) == 6
    first, second = finals(readings)
    assert first == second
    assert first.outcome is Outcome.COMPLETED


def test_ringing_after_completed_is_only_progress(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A ``ringing`` that arrives after ``completed`` undoes nothing: it is progress only."""
    _, readings = dial(gateways(), fake, clock, "ringing_after_completed")
    assert [r.final.outcome for r in readings if r.final] == [Outcome.COMPLETED]
    assert (readings[-1].final, readings[-1].progress) == (None, "ringing")


# --- answering machines ----------------------------------------------------------------

MACHINE_POLICIES = [
    (VoicemailPolicy(VoicemailAction.HANGUP), {"Status": ["completed"]}),
    (
        VoicemailPolicy(VoicemailAction.LEAVE_MESSAGE, message_text="Call us back & soon"),
        {
            "Twiml": [
                '<?xml version="1.0" encoding="UTF-8"?><Response>'
                "<Say>Call us back &amp; soon</Say><Hangup /></Response>"
            ]
        },
    ),
    (
        VoicemailPolicy(
            VoicemailAction.LEAVE_MESSAGE, message_audio_url="https://cdn.example.com/m.mp3"
        ),
        {
            "Twiml": [
                '<?xml version="1.0" encoding="UTF-8"?><Response>'
                "<Play>https://cdn.example.com/m.mp3</Play><Hangup /></Response>"
            ]
        },
    ),
]


@pytest.mark.parametrize(("policy", "update"), MACHINE_POLICIES)
def test_a_machine_verdict_hangs_up_or_leaves_the_message(
    fake: TwilioFake,
    gateways: Gateways,
    clock: Clock,
    policy: VoicemailPolicy,
    update: dict[str, list[str]],
) -> None:
    """The verdict names the call (CallSid); the policy is carried out on that live call:
    ``hangup`` ends it, ``leave_message`` replaces the agent with the message, then hangs up."""
    gateway = gateways()
    _, readings = dial(gateway, fake, clock, "voicemail")
    (verdict,) = [r for r in readings if r.progress == "answered_by:machine"]
    (call,) = fake.calls_to(NUMBER)
    assert verdict.call_id == call.sid
    clock.at = START + timedelta(seconds=10)  # answered at 6 s, the greeting goes on
    asyncio.run(gateway.answer_machine(call.sid, policy))
    assert call.updates == [update]


def test_the_agent_policy_leaves_the_call_alone_and_an_ended_call_is_refused(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """``agent`` sends nothing; a verdict acted on after the call ended meets Twilio's refusal
    (21220), which the gateway raises rather than hides."""
    gateway = gateways()
    dial(gateway, fake, clock, "voicemail")
    (call,) = fake.calls_to(NUMBER)
    clock.at = START + timedelta(seconds=10)
    asyncio.run(gateway.answer_machine(call.sid, VoicemailPolicy()))
    assert call.updates == []
    clock.at = START + timedelta(minutes=5)
    with pytest.raises(TwilioRestException) as refused:
        asyncio.run(gateway.answer_machine(call.sid, VoicemailPolicy(VoicemailAction.HANGUP)))
    assert refused.value.code == 21220
    assert call.updates == []


# --- reconciliation --------------------------------------------------------------------


def test_reconciliation_finds_the_end_whose_report_never_came(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """When the final report is lost, call_state fetches the call and finds how it ended,
    in the process that placed it and in a fresh one given the store's record."""
    gateway = gateways()
    accepted, readings = dial(gateway, fake, clock, "final_never_comes")
    assert finals(readings) == []
    clock.at += timedelta(hours=2)
    result = asyncio.run(gateway.call_state("attempt-1", clock.now()))
    assert result is not None
    assert (result.outcome, result.answered_by) == (Outcome.COMPLETED, "human")
    assert result.duration == timedelta(seconds=42)
    assert result.gateway_call_id == accepted.gateway_call_id
    other = gateways()
    assert asyncio.run(other.call_state("attempt-1", clock.now())) is None
    again = asyncio.run(other.call_state("attempt-1", clock.now(), record_of("attempt-1")))
    assert again == result


def test_a_fresh_gateway_finds_the_attempts_own_call_among_calls_to_the_number(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A worker that did not place the call finds it from the number and caller number in
    the store's record, confirmed by the attempt's callback URL in Twilio's Events log:
    an earlier attempt's call to the same number is not taken for it."""
    dialler = gateways()
    first, _ = dial(dialler, fake, clock, "human", attempt_id="attempt-1")
    clock.at += timedelta(minutes=2)  # both calls are recent enough to be candidates
    second, _ = dial(dialler, fake, clock, "final_never_comes", attempt_id="attempt-2")
    clock.at += timedelta(hours=2)

    found = asyncio.run(gateways().call_state("attempt-2", clock.now(), record_of("attempt-2")))
    assert found is not None
    assert found.gateway_call_id == second.gateway_call_id != first.gateway_call_id
    assert found.outcome is Outcome.COMPLETED
    elsewhere = record_of("attempt-2", phone="+15551239999")
    assert asyncio.run(gateways().call_state("attempt-2", clock.now(), elsewhere)) is None


def test_a_recorded_call_sid_is_fetched_without_a_lookup(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """When the store recorded the attempt's call sid, a fresh gateway fetches that call
    directly, without listing the calls to the number."""
    accepted, _ = dial(gateways(), fake, clock, "final_never_comes")
    clock.at += timedelta(hours=2)
    record = record_of("attempt-1", sid=accepted.gateway_call_id)
    before = len(fake.requests)
    result = asyncio.run(gateways().call_state("attempt-1", clock.now(), record))
    assert result is not None and result.gateway_call_id == accepted.gateway_call_id
    assert [path.rsplit("/", 1)[-1] for _, path, _ in fake.requests[before:]] == [
        f"{accepted.gateway_call_id}.json"
    ]


def test_reconciliation_says_nothing_while_the_call_is_live(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A call still in progress has no outcome yet: call_state answers None."""
    gateway = gateways()
    dial(gateway, fake, clock, "final_never_comes")
    clock.at += timedelta(seconds=20)
    assert asyncio.run(gateway.call_state("attempt-1", clock.now())) is None


# --- never twice -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["lost_5xx", "lost_dropped", "lost_unlogged"])
def test_a_create_lost_after_placement_is_found_not_resent(
    fake: TwilioFake, gateways: Gateways, clock: Clock, scenario: str
) -> None:
    """A create answered 5xx, or whose connection dropped, after Twilio placed the call is
    found by its attempt id (or as the only new call to the number) and never sent again."""
    accepted, readings = dial(gateways(), fake, clock, scenario)
    assert fake.creates() == 1
    [call] = fake.calls_to(NUMBER)
    assert accepted.gateway_call_id == call.sid
    [result] = finals(readings)
    assert result.outcome is Outcome.COMPLETED


def test_a_failed_create_that_placed_nothing_is_unavailable(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A 5xx create that placed nothing is looked up, not found, and reads unavailable."""
    with pytest.raises(GatewayUnavailable, match="no call to this number was found"):
        dial(gateways(), fake, clock, "down_5xx")
    assert (fake.creates(), len(fake.calls)) == (1, 0)


def test_a_lost_create_does_not_adopt_an_earlier_call_to_the_number(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """An earlier attempt's call to the same number is not taken for a lost create's call:
    its Events log names another attempt's callback."""
    gateway = gateways()
    first, _ = dial(gateway, fake, clock, "human", attempt_id="attempt-1")
    clock.at += timedelta(minutes=2)
    with pytest.raises(GatewayUnavailable):
        dial(gateway, fake, clock, "down_5xx", attempt_id="attempt-2")
    assert list(fake.calls) == [first.gateway_call_id]


def test_a_lost_create_that_cannot_be_looked_up_is_presumed_placed(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """When Twilio cannot be asked after a lost create, the call is presumed placed (not
    dialled again) and the lease's reconciliation finds it later."""
    gateway = gateways()
    fake.fail_reads = True
    accepted, _ = dial(gateway, fake, clock, "lost_dropped")
    assert accepted.gateway_call_id == "attempt-1"
    assert fake.creates() == 1
    fake.fail_reads = False
    clock.at += timedelta(hours=2)
    result = asyncio.run(gateway.call_state("attempt-1", clock.now()))
    assert result is not None
    assert result.outcome is Outcome.COMPLETED
    assert result.gateway_call_id == next(iter(fake.calls))


def test_rate_limited_create_is_unavailable_with_nothing_placed(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A 429 reads unavailable; nothing was placed and the create was not retried."""
    with pytest.raises(GatewayUnavailable, match="rate limiting"):
        dial(gateways(), fake, clock, "rate_limited")
    assert (fake.creates(), len(fake.calls)) == (1, 0)


def test_a_refused_number_is_rejected(fake: TwilioFake, gateways: Gateways, clock: Clock) -> None:
    """A 400 refusal of the number (Twilio error 21211) reads rejected, nothing placed."""
    with pytest.raises(GatewayRejected, match="21211"):
        dial(gateways(), fake, clock, "refused_number")
    assert len(fake.calls) == 0


def test_wrong_credentials_are_unavailable_not_a_refusal_of_the_number(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A 401 says nothing about the number: it reads unavailable."""
    with pytest.raises(GatewayUnavailable, match="credentials"):
        dial(gateways(auth_token="not-the-token"), fake, clock, "human")
    assert len(fake.calls) == 0


def test_an_unreachable_twilio_is_unavailable_without_a_lookup(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A refused connection sent nothing, so it reads unavailable at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(GatewayUnavailable, match="unreachable"):
        dial(gateways(api_base_url=closed), fake, clock, "human")


# --- signatures ------------------------------------------------------------------------


def first_final(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> tuple[TwilioGateway, SignedCallback]:
    gateway = gateways()
    fake.script[NUMBER] = SCENARIOS["busy"]
    asyncio.run(gateway.place_call(request()))
    return gateway, fake.pop_callbacks()[-1]


def test_a_tampered_or_unsigned_callback_raises_signature_invalid(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A changed body, a changed attempt id, a missing or foreign signature all raise
    SignatureInvalid before anything is read."""
    gateway, callback = first_final(fake, gateways, clock)
    tampered_body = callback.body.replace(b"CallStatus=busy", b"CallStatus=completed")
    tampered_url = callback.url.replace("attempt-1", "attempt-2")
    unsigned = {k: v for k, v in callback.headers.items() if k != "X-Twilio-Signature"}
    foreign = dict(callback.headers, **{"X-Twilio-Signature": "c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ=="})
    for url, headers, body in [
        (callback.url, callback.headers, tampered_body),
        (tampered_url, callback.headers, callback.body),
        (callback.url, unsigned, callback.body),
        (callback.url, foreign, callback.body),
        (callback.url, callback.headers, b"\xff\xfe"),
    ]:
        with pytest.raises(SignatureInvalid):
            gateway.read_callback(url, headers, body, clock.now())
    reading = gateway.read_callback(callback.url, callback.headers, callback.body, clock.now())
    assert reading.final is not None
    assert reading.final.outcome is Outcome.BUSY


def test_the_signature_is_checked_over_the_url_given_to_twilio(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A callback that reaches ringcast through a proxy (another host and scheme) verifies,
    since the signed URL is the one ringcast gave Twilio, with lower-case headers too."""
    gateway, callback = first_final(fake, gateways, clock)
    inside = callback.url.replace("https://ringcast.example.com", "http://10.0.0.7:8000")
    headers = {k.lower(): v for k, v in callback.headers.items()}
    reading = gateway.read_callback(inside, headers, callback.body, clock.now())
    assert reading.attempt_id == "attempt-1"


def test_a_signed_callback_without_an_attempt_is_malformed(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """A genuinely signed callback to a URL that names no attempt is malformed, not read."""
    gateway = gateways()
    signed = fake._sign(CALLBACK_URL, {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"})
    with pytest.raises(CallbackUnreadable):
        gateway.read_callback(signed.url, signed.headers, signed.body, clock.now())


class Receiver(BaseHTTPRequestHandler):
    """ringcast's callback endpoint: verifies and reads each Twilio request it receives."""

    gateway: TwilioGateway
    readings: list[CallbackReading] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        url = f"http://{self.headers['host']}{self.path}"
        try:
            reading = Receiver.gateway.read_callback(url, dict(self.headers.items()), body, START)
        except SignatureInvalid:
            answer(self, 401, b"")
            return
        Receiver.readings.append(reading)
        answer(self, 204, b"")

    def log_message(self, *args: object) -> None:
        pass


def test_callbacks_posted_over_http_verify_and_read(
    fake: TwilioFake, gateways: Gateways, clock: Clock
) -> None:
    """Callbacks the fake POSTs to a real endpoint carry signatures that verify there."""
    Receiver.readings = []
    with serving(Receiver) as url:
        Receiver.gateway = gateways(callback_url=f"{url}/ringcast/v1/gateway/twilio/paris")
        fake.script[NUMBER] = SCENARIOS["voicemail"]
        asyncio.run(Receiver.gateway.place_call(request()))
        assert set(fake.post_callbacks()) == {204}
    [result] = finals(Receiver.readings)
    assert (result.outcome, result.answered_by) == (Outcome.VOICEMAIL, "machine")


# --- the contract ----------------------------------------------------------------------


def sdk_client(fake: TwilioFake) -> Client:
    client = Client(fake.account_sid, fake.auth_token, http_client=TwilioHttpClient())
    client.api.base_url = fake.url
    return client


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"machine_detection": "Sometimes"}, 21234),
        ({"status_callback_event": ["initiated", "hangup"]}, 21200),
        ({"async_amd": "yes"}, 21200),
        ({"timeout": "soon"}, 21200),
        ({"url": None}, 21200),
    ],
)
def test_the_fake_refuses_what_twilio_would_refuse(
    fake: TwilioFake, changes: dict[str, Any], code: int
) -> None:
    """A create with a value the OpenAPI document does not allow is answered 400 with
    Twilio's error body, and nothing is placed."""
    params: dict[str, Any] = {
        "to": NUMBER,
        "from_": CALLER,
        "url": "https://agent.example.com/twiml",
        "status_callback": CALLBACK_URL,
    } | changes
    client = sdk_client(fake)
    with pytest.raises(TwilioRestException) as refused:
        client.calls.create(**{k: v for k, v in params.items() if v is not None})
    client.http_client.session.close()
    assert (refused.value.status, refused.value.code) == (400, code)
    assert len(fake.calls) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"account_sid": "AC123"},
        {"answer_url": None},
        {"twiml": "<Response/>"},
        {"machine_detection": "enable"},
        {"ring_timeout_s": 0},
        {"time_limit_s": 20_000},
    ],
)
def test_settings_refuse_what_twilio_would(fake: TwilioFake, changes: dict[str, Any]) -> None:
    """Settings Twilio would refuse at the first dial are refused when they are built."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        settings_for(fake, **changes)


def test_the_auth_token_is_never_shown(fake: TwilioFake) -> None:
    """The settings' repr leaves the auth token out (it is a secret)."""
    assert fake.auth_token not in repr(settings_for(fake))
