"""The retell gateway driven through the real ``retell-sdk`` against a local fake of
Retell's API: outcomes and their evidence per scenario, signed reports, lost creates
found by attempt id, refusals mapped at the boundary, and reconciliation."""

from __future__ import annotations

import asyncio
import json
import threading
import typing
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from retell.lib.webhook_auth import symmetric
from retell.types.phone_call_response import PhoneCallResponse

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
from ringcast.gateways.provider_settings import RetellSettings
from ringcast.gateways.retell import _REASONS, RetellGateway, dynamic_variables
from tests.fakes.retell_fake import (
    AGENT_NEVER_JOINS,
    BUSY,
    BUSY_AFTER_ANSWER,
    DECLINED,
    DOWN,
    FAILED,
    HUMAN,
    MACHINE,
    NO_ANSWER,
    RATE_LIMITED,
    REFUSED,
    RetellFake,
    Scenario,
    SignedReport,
    serving,
)

API_KEY = "key_0123456789abcdef"
AGENT_ID = "agent_ringcast_test"
CALLER = "+14155550100"
CALLBACK = "https://ringcast.example.com/ringcast/v1/gateway/retell/retell-main"
START = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
NUMBER = "+14155550123"


class Clock:
    """A clock that says what the test tells it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def fake(clock: Clock) -> Iterator[RetellFake]:
    yield from serving(RetellFake(API_KEY, AGENT_ID, clock))


def gateway_for(base_url: str, clock: Clock, api_key: str = API_KEY) -> RetellGateway:
    settings = RetellSettings(api_key=api_key, agent_id=AGENT_ID, api_base_url=base_url)
    return RetellGateway(settings, CALLBACK, clock_now=clock, lookup_delays=(timedelta(0),) * 2)


@pytest.fixture
def gateway(fake: RetellFake, clock: Clock) -> Iterator[RetellGateway]:
    gateway = gateway_for(fake.base_url, clock)
    yield gateway
    asyncio.run(gateway.aclose())


def request(number: str = NUMBER, attempt_id: str = "att-1", caller: str | None = CALLER):
    return DialRequest(
        attempt_id=attempt_id,
        to=number,
        caller=caller,
        connection_id="retell-main",
        campaign_id="camp-1",
        agent_id="ringcast-agent",
        agent_version=3,
        variables={"first_name": "Ada", "balance": 12.5, "vip": True, "note": None},
    )


def dial(gateway: RetellGateway, number: str = NUMBER, attempt_id: str = "att-1") -> Accepted:
    return asyncio.run(gateway.place_call(request(number, attempt_id)))


def read(gateway: RetellGateway, reports: list[SignedReport], now: datetime):
    return [gateway.read_callback(CALLBACK, r.headers, r.body, now) for r in reports]


def finals(readings: list[CallbackReading]) -> list[CallResult]:
    return [r.final for r in readings if r.final is not None]


def play(fake: RetellFake, gateway: RetellGateway, scenario: Scenario, clock: Clock):
    """Dial a number scripted with ``scenario``, end the call, read every report."""
    fake.scenarios[NUMBER] = scenario
    accepted = dial(gateway)
    return accepted, read(gateway, fake.finish(accepted.gateway_call_id), clock())


@pytest.mark.parametrize(
    ("scenario", "outcome", "answered_by", "code"),
    [
        pytest.param(HUMAN, Outcome.COMPLETED, "human", "user_hangup", id="human"),
        pytest.param(MACHINE, Outcome.VOICEMAIL, "machine", "voicemail_reached", id="machine"),
        pytest.param(BUSY, Outcome.BUSY, None, "dial_busy", id="busy"),
        pytest.param(NO_ANSWER, Outcome.NO_ANSWER, None, "dial_no_answer", id="no-answer"),
        pytest.param(DECLINED, Outcome.REJECTED, None, "user_declined", id="declined"),
        pytest.param(FAILED, Outcome.FAILED, None, "dial_failed", id="failed"),
        pytest.param(BUSY_AFTER_ANSWER, Outcome.BUSY, None, "dial_busy", id="busy-after-answer"),
        pytest.param(
            AGENT_NEVER_JOINS,
            Outcome.PROVIDER_ERROR,
            None,
            "error_llm_websocket_open",
            id="agent-never-joins",
        ),
    ],
)
def test_each_scenario_ends_with_its_outcome_and_evidence(
    fake: RetellFake,
    gateway: RetellGateway,
    clock: Clock,
    scenario: Scenario,
    outcome: Outcome,
    answered_by: str | None,
    code: str,
) -> None:
    """Every final report of a scripted call gives its outcome, answered_by and raw code."""
    accepted, readings = play(fake, gateway, scenario, clock)
    assert accepted.gateway_call_id == fake.placed[0]
    assert {r.attempt_id for r in readings} == {"att-1"}
    ended = finals(readings)
    assert ended, "call_ended must give a final result"
    for result in ended:
        assert (result.outcome, result.answered_by, result.provider_code) == (
            outcome,
            answered_by,
            code,
        )
        assert result.gateway_call_id == accepted.gateway_call_id
    assert [r.progress for r in readings if r.final is None] == (
        ["answered"] if scenario.started else []
    )


def test_human_call_carries_duration_transcript_and_then_the_analysis(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """call_ended gives duration and transcript; call_analyzed adds qualifiers, summary, data."""
    _, readings = play(fake, gateway, HUMAN, clock)
    assert [r.progress for r in readings] == ["answered", None, "analyzed"]
    ended, analyzed = finals(readings)
    assert ended.duration == timedelta(seconds=42)
    assert ended.answered_at == START + HUMAN.ring
    assert ended.ended_at == START + HUMAN.ring + HUMAN.talk
    assert ended.failure_reason is None
    assert [(t["actor"], t["action"]) for t in ended.transcript] == [
        ("AGENT", "AGENT_SPEAK"),
        ("HUMAN", "HUMAN_SPEAK"),
        ("AGENT", "AGENT_SPEAK"),
    ]
    assert ended.transcript[1]["message"] == "Yes, go ahead."
    assert datetime.fromisoformat(ended.transcript[0]["time"]) > START
    assert (ended.qualifiers, ended.summary, dict(ended.extracted)) == (frozenset(), None, {})
    assert analyzed.outcome is ended.outcome and analyzed.duration == ended.duration
    assert analyzed.qualifiers == {"interested"}
    assert analyzed.summary == "The callee agreed to hear the offer."
    assert analyzed.extracted == {
        "interested": True,
        "best_time": "evening",
        "user_sentiment": "Positive",
        "call_successful": True,
    }


def test_the_create_carries_what_retell_needs_in_its_own_schema(
    fake: RetellFake, gateway: RetellGateway
) -> None:
    """The create names the agent, carries the attempt id in metadata and as idempotency key."""
    dial(gateway)
    assert fake.invalid_requests == []
    (body,) = fake.create_requests
    assert body["from_number"] == CALLER and body["to_number"] == NUMBER
    assert body["override_agent_id"] == AGENT_ID
    assert body["metadata"] == {"attempt_id": "att-1", "campaign_id": "camp-1"}
    assert body["idempotency_key"] == "att-1"
    assert body["retell_llm_dynamic_variables"] == {
        "first_name": "Ada",
        "balance": "12.5",
        "vip": "true",
        "voicemail_action": "agent",  # the campaign's voicemail policy, for the prompt
    }


def test_the_analysis_turns_a_conversation_with_a_machine_into_a_voicemail(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """A voicemail Retell talked to until hangup becomes a voicemail once analysed."""
    talked_to_machine = replace(HUMAN, analysis={"in_voicemail": True, "call_summary": "VM"})
    _, readings = play(fake, gateway, talked_to_machine, clock)
    ended, analyzed = finals(readings)
    assert (ended.outcome, ended.answered_by) == (Outcome.COMPLETED, "human")
    assert (analyzed.outcome, analyzed.answered_by) == (Outcome.VOICEMAIL, "machine")
    assert analyzed.provider_code == "user_hangup"


def test_a_request_for_no_more_calls_is_a_do_not_call_qualifier(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """user_requested_dnc ends a completed call qualified do_not_call from call_ended on."""
    _, readings = play(fake, gateway, replace(HUMAN, reason="user_requested_dnc"), clock)
    for result in finals(readings):
        assert result.outcome is Outcome.COMPLETED
        assert "do_not_call" in result.qualifiers


def test_a_duplicate_final_report_reads_the_same_again(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """A call_ended delivered twice parses twice to the same result, nothing more."""
    _, readings = play(fake, gateway, replace(BUSY, duplicate_final=True), clock)
    first, second, analyzed = finals(readings)
    assert first == second and first.outcome is analyzed.outcome is Outcome.BUSY
    assert [r.progress for r in readings] == [None, None, "analyzed"]


def test_call_started_after_the_end_is_progress_only(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """A call_started arriving after call_ended (ringing after completed) undoes nothing."""
    _, readings = play(fake, gateway, replace(HUMAN, started_after_end=True), clock)
    assert readings[-1] == CallbackReading("att-1", None, "answered")
    assert [r.final.outcome for r in readings if r.final] == [Outcome.COMPLETED] * 2


def test_reconciliation_finds_the_end_of_a_call_whose_reports_never_came(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """With no final report, call_state reads the call's end and analysis from Retell."""
    _, readings = play(fake, gateway, replace(NO_ANSWER, final_lost=True), clock)
    assert finals(readings) == []
    result = asyncio.run(gateway.call_state("att-1", clock()))
    assert result is not None
    assert (result.outcome, result.provider_code) == (Outcome.NO_ANSWER, "dial_no_answer")
    assert result.failure_reason == "dial_no_answer" and result.duration is None

    fake.scenarios["+14155550199"] = replace(HUMAN, final_lost=True)
    accepted = dial(gateway, "+14155550199", "att-2")
    assert finals(read(gateway, fake.finish(accepted.gateway_call_id), clock())) == []
    result = asyncio.run(gateway.call_state("att-2", clock()))
    assert result is not None
    assert (result.outcome, result.answered_by) == (Outcome.COMPLETED, "human")
    assert result.duration == timedelta(seconds=42) and result.qualifiers == {"interested"}
    assert len(result.transcript) == 3


def test_a_fresh_gateway_reconciles_a_call_another_worker_placed(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """A worker that did not place the call finds it by the attempt id in Retell's metadata
    and reads how it ended, with nothing remembered from the dial."""
    _, readings = play(fake, gateway, replace(BUSY, final_lost=True), clock)
    assert finals(readings) == []
    fresh = gateway_for(fake.base_url, clock)
    try:
        result = asyncio.run(fresh.call_state("att-1", clock()))
    finally:
        asyncio.run(fresh.aclose())
    assert result is not None
    assert (result.outcome, result.provider_code) == (Outcome.BUSY, "dial_busy")


def test_call_state_says_nothing_for_a_live_call_or_an_unknown_attempt(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """A call Retell still runs, or an attempt Retell never saw, gives None."""
    dial(gateway)
    assert asyncio.run(gateway.call_state("att-1", clock())) is None
    assert asyncio.run(gateway.call_state("never-dialled", clock())) is None


@pytest.mark.parametrize("failure", ["500", "drop"])
def test_a_create_lost_after_placement_is_found_and_not_placed_again(
    fake: RetellFake, gateway: RetellGateway, failure: str
) -> None:
    """A 500 or a dropped connection after Retell placed the call finds it by attempt id."""
    fake.scenarios[NUMBER] = replace(HUMAN, fail_after_placing=failure)
    accepted = dial(gateway)
    assert len(fake.placed) == 1 and len(fake.create_requests) == 1
    assert accepted == Accepted(fake.placed[0])
    lookup = fake.list_requests[0]["filter_criteria"]["metadata"]
    assert lookup == [{"key": "attempt_id", "op": "eq", "type": "string", "value": "att-1"}]


def test_a_5xx_before_placement_is_unavailable_once_the_lookup_finds_nothing(
    fake: RetellFake, gateway: RetellGateway
) -> None:
    """A 503 with no call behind it is GatewayUnavailable, after looking the call up."""
    fake.scenarios[NUMBER] = DOWN
    with pytest.raises(GatewayUnavailable, match="did not place"):
        dial(gateway)
    assert fake.placed == [] and len(fake.list_requests) == 2


def test_a_lost_create_nobody_can_look_up_is_taken_as_placed(
    fake: RetellFake, gateway: RetellGateway
) -> None:
    """When every lookup fails too, the dial is accepted without an id: never dial twice."""
    fake.scenarios[NUMBER] = replace(HUMAN, fail_after_placing="500")
    fake.list_status = 503
    assert dial(gateway) == Accepted("")
    assert len(fake.placed) == 1


def test_a_429_is_unavailable_and_places_nothing(fake: RetellFake, gateway: RetellGateway) -> None:
    """Retell at its concurrency limit answers 429: GatewayUnavailable, no call, no lookup."""
    fake.scenarios[NUMBER] = RATE_LIMITED
    with pytest.raises(GatewayUnavailable, match="429"):
        dial(gateway)
    assert fake.placed == [] and fake.list_requests == []
    assert len(fake.create_requests) == 1, "the SDK must not retry the create"


def test_a_refusal_for_this_number_is_rejected(fake: RetellFake, gateway: RetellGateway) -> None:
    """A 400 from Retell is GatewayRejected, and nothing is placed."""
    fake.scenarios[NUMBER] = REFUSED
    with pytest.raises(GatewayRejected, match="HTTP 400"):
        dial(gateway)
    assert fake.placed == []


def test_a_dial_without_a_caller_number_is_rejected_before_retell_hears_of_it(
    fake: RetellFake, gateway: RetellGateway
) -> None:
    """Retell needs a from_number; without one the dial is refused locally."""
    with pytest.raises(GatewayRejected, match="caller"):
        asyncio.run(gateway.place_call(request(caller=None)))
    assert fake.create_requests == []


def test_a_refused_api_key_is_unavailable(fake: RetellFake, clock: Clock) -> None:
    """A 401 on the connection's key is GatewayUnavailable: nothing placed, try later."""
    gateway = gateway_for(fake.base_url, clock, api_key="key_wrong")
    try:
        with pytest.raises(GatewayUnavailable, match="API key"):
            dial(gateway)
    finally:
        asyncio.run(gateway.aclose())
    assert fake.placed == []


def test_an_unreachable_retell_is_unavailable(clock: Clock) -> None:
    """A connection refused before the request went out is GatewayUnavailable at once."""
    closed = RetellFake(API_KEY, AGENT_ID, clock)
    url = closed.base_url
    closed.stop()  # the port was bound, never served, now closed
    gateway = gateway_for(url, clock)
    try:
        with pytest.raises(GatewayUnavailable, match="unreachable"):
            dial(gateway)
    finally:
        asyncio.run(gateway.aclose())


def test_closing_waits_for_a_dial_under_way(fake: RetellFake, clock: Clock) -> None:
    """aclose lets a create Retell is slow to answer finish before closing the client."""
    fake.scenarios[NUMBER] = replace(HUMAN, answer_after=timedelta(seconds=0.3))
    gateway = gateway_for(fake.base_url, clock)

    async def close_while_dialling() -> asyncio.Task[Accepted]:
        dialling = asyncio.create_task(gateway.place_call(request()))
        await asyncio.sleep(0)  # let the dial start
        await gateway.aclose()
        return dialling

    dialling = asyncio.run(close_while_dialling())
    assert dialling.result() == Accepted(fake.placed[0])


def _tampered(report: SignedReport) -> SignedReport:
    return replace(report, body=report.body.replace(b"user_hangup", b"dial_busy"))


def _unsigned(report: SignedReport) -> SignedReport:
    return replace(report, headers={"content-type": "application/json"})


def _other_key(report: SignedReport) -> SignedReport:
    signature = symmetric["sign"](
        report.body.decode(), "key_someone_else", int(START.timestamp() * 1000)
    )
    return replace(report, headers={"x-retell-signature": signature})


@pytest.mark.parametrize(
    ("spoil", "later"),
    [
        (_tampered, timedelta(0)),
        (_unsigned, timedelta(0)),
        (_other_key, timedelta(0)),
        (lambda r: r, timedelta(minutes=6)),
    ],
    ids=["tampered-body", "unsigned", "other-key", "stale"],
)
def test_a_report_not_signed_by_retell_with_this_key_is_refused(
    fake: RetellFake, gateway: RetellGateway, clock: Clock, spoil, later: timedelta
) -> None:
    """A tampered, unsigned, foreign-key or stale report raises SignatureInvalid."""
    fake.scenarios[NUMBER] = HUMAN
    accepted = dial(gateway)
    ended = next(r for r in fake.finish(accepted.gateway_call_id) if r.event == "call_ended")
    assert gateway.read_callback(CALLBACK, ended.headers, ended.body, clock()).final
    with pytest.raises(SignatureInvalid):
        gateway.read_callback(CALLBACK, spoil(ended).headers, spoil(ended).body, clock() + later)


def test_a_signed_report_that_is_not_a_call_report_is_unreadable(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """Signed bytes that are not {event, call} raise CallbackUnreadable, after verification."""
    signature = symmetric["sign"]("[1, 2]", API_KEY, int(START.timestamp() * 1000))
    with pytest.raises(CallbackUnreadable):
        gateway.read_callback(CALLBACK, {"X-Retell-Signature": signature}, b"[1, 2]", clock())


def test_a_report_of_a_call_ringcast_did_not_place_reads_with_no_attempt(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """The agent's other calls (no attempt id in metadata) are read as nobody's."""
    call = {"call_id": "c1", "call_status": "ended", "disconnection_reason": "user_hangup"}
    report = fake.sign("call_ended", call)
    assert gateway.read_callback(CALLBACK, report.headers, report.body, clock()) == (
        CallbackReading(None, None, None)
    )


def test_reports_posted_over_http_verify_on_their_received_bytes(
    fake: RetellFake, gateway: RetellGateway, clock: Clock
) -> None:
    """Webhooks the fake POSTs to a URL verify and read on the bytes a server received."""
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        accepted = dial(gateway)
        url = f"http://127.0.0.1:{server.server_address[1]}/ringcast/v1/gateway/retell/x"
        assert fake.deliver(accepted.gateway_call_id, url) == [204, 204, 204]
    finally:
        server.shutdown()
        server.server_close()
    readings = [gateway.read_callback(url, h, b, clock()) for h, b in received]
    assert [r.progress for r in readings] == ["answered", None, "analyzed"]
    assert finals(readings)[0].outcome is Outcome.COMPLETED


def test_every_disconnection_reason_the_sdk_knows_has_an_outcome() -> None:
    """Each disconnection_reason in the SDK's PhoneCallResponse is mapped explicitly."""
    annotation = PhoneCallResponse.model_fields["disconnection_reason"].annotation
    (literal, _none) = typing.get_args(annotation)
    assert set(typing.get_args(literal)) <= set(_REASONS)


def test_variables_become_retell_dynamic_variables_as_strings() -> None:
    """Retell's dynamic variables are strings: numbers, booleans and objects are written out."""
    assert dynamic_variables(
        {"a": "x", "n": 3, "f": 0.5, "b": False, "o": {"k": [1]}, "z": None}
    ) == {
        "a": "x",
        "n": "3",
        "f": "0.5",
        "b": "false",
        "o": json.dumps({"k": [1]}, separators=(",", ":")),
    }


def test_settings_never_show_the_api_key() -> None:
    """The settings' repr, which may reach a log line, leaves the API key out."""
    assert API_KEY not in repr(RetellSettings(API_KEY, AGENT_ID))
