"""The livekit gateway, through the real SDK, against a fake LiveKit that speaks its wire
format (tests/fakes/livekit_fake.py): each scenario ends as LiveKit's evidence says."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from livekit.protocol.agent_dispatch import CreateAgentDispatchRequest

from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import (
    Accepted,
    CallbackReading,
    CallbackUnreadable,
    DialEnded,
    DialRequest,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
)
from ringcast.gateways.livekit import LiveKitGateway, LiveKitSettings
from ringcast.gateways.livekit_agent import agent_report_headers, agent_report_payload
from tests.fakes import livekit_fake as lk
from tests.fakes.livekit_fake import Delivery, FakeLiveKit, Scenario

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CALLBACK = "https://ringcast.example/ringcast/v1/gateway/livekit/conn-1"
CALLER = "+33100000001"
T = TypeVar("T")


@pytest.fixture
def fake() -> Iterator[FakeLiveKit]:
    with FakeLiveKit(CALLBACK, lambda: NOW).running() as server:
        yield server


def settings_for(url: str, **overrides: Any) -> LiveKitSettings:
    fields: dict[str, Any] = {
        "url": url,
        "api_key": lk.API_KEY,
        "api_secret": lk.API_SECRET,
        "sip_trunk_id": lk.TRUNK_ID,
        "agent_name": lk.AGENT_NAME,
        "ringing_timeout_s": 30,
        "max_call_duration_s": 1800,
        "agent_join_timeout_s": 0.2,
    }
    return LiveKitSettings(**{**fields, **overrides})


def dial(to: str, attempt_id: str = "a1") -> DialRequest:
    return DialRequest(
        attempt_id=attempt_id,
        to=to,
        caller=CALLER,
        connection_id="conn-1",
        campaign_id="c1",
        agent_id="agent-1",
        agent_version=3,
        variables={"name": "Ada"},
    )


def run(
    url: str,
    script: Callable[[LiveKitGateway], Awaitable[T]],
    *,
    drain: bool = True,
    **overrides: Any,
) -> T:
    """Run ``script`` with a fresh gateway on its own event loop, then (drain and) close it."""

    async def go() -> T:
        gateway = LiveKitGateway(settings_for(url, **overrides), CALLBACK, clock_now=lambda: NOW)
        try:
            return await script(gateway)
        finally:
            if drain:
                await gateway.drain()
            await gateway.aclose()

    return asyncio.run(go())


def place_and_play(fake: FakeLiveKit, number: str, scenario: Scenario) -> Accepted:
    fake.scenarios[number] = scenario

    async def script(gateway: LiveKitGateway) -> Accepted:
        accepted = await gateway.place_call(dial(number))
        fake.play("a1")
        return accepted

    return run(fake.url, script)


def read_all(deliveries: list[Delivery]) -> list[CallbackReading]:
    # read_callback needs no event loop: a gateway that never placed a call reads reports
    gateway = LiveKitGateway(settings_for("http://127.0.0.1:9"), CALLBACK, clock_now=lambda: NOW)
    return [gateway.read_callback(d.url, d.headers, d.body, NOW) for d in deliveries]


def finals(readings: list[CallbackReading]) -> list[CallResult]:
    return [r.final for r in readings if r.final is not None]


def test_a_human_answer_ends_completed_with_the_agents_evidence(fake: FakeLiveKit) -> None:
    """An answered call ends with the agent's report: completed by a human, with its duration,
    qualifiers, transcript and extracted data; the requests carry every field LiveKit needs."""
    accepted = place_and_play(fake, "+33612345678", Scenario(lk.HUMAN))

    assert accepted.gateway_call_id == fake.call_ids[0]
    (sip,) = fake.placed
    assert (sip.sip_trunk_id, sip.sip_call_to, sip.sip_number) == (
        lk.TRUNK_ID,
        "+33612345678",
        CALLER,
    )
    assert (sip.room_name, sip.participant_identity) == ("rc-a1", "callee")
    assert (sip.ringing_timeout.seconds, sip.max_call_duration.seconds) == (30, 1800)
    assert sip.wait_until_answered
    (dispatch,) = [m for name, m in fake.requests if name == "CreateDispatch"]
    assert isinstance(dispatch, CreateAgentDispatchRequest)
    assert (dispatch.agent_name, dispatch.room) == (lk.AGENT_NAME, "rc-a1")
    job = json.loads(dispatch.metadata)
    assert job["attempt_id"] == "a1"
    assert job["variables"] == {"name": "Ada"}
    assert job["voicemail"]["action"] == "agent"  # the agent hears the machine, and decides
    assert job["callback_url"] == CALLBACK

    readings = read_all(fake.take_deliveries())
    assert {r.attempt_id for r in readings} == {"a1"}
    assert "ringing" in [r.progress for r in readings]
    first = finals(readings)[0]
    assert first.outcome is Outcome.COMPLETED
    assert (first.answered_by, first.provider_code) == ("human", "human")
    assert first.duration == timedelta(seconds=42)
    assert first.answered_at == NOW
    assert first.qualifiers == frozenset({"interested"})
    assert first.extracted == {"email": "p@example.com"}
    assert first.transcript == ({"role": "agent", "text": "Hello Ada"},)


def test_a_machine_answer_ends_voicemail(fake: FakeLiveKit) -> None:
    """A voicemail pick-up ends voicemail, answered by a machine, with the agent's AMD code."""
    place_and_play(fake, "+33612345679", Scenario(lk.MACHINE))

    first = finals(read_all(fake.take_deliveries()))[0]
    assert first.outcome is Outcome.VOICEMAIL
    assert (first.answered_by, first.provider_code) == ("machine", "machine-vm")
    assert first.duration == timedelta(seconds=8)


@pytest.mark.parametrize(
    ("kind", "outcome", "code"),
    [
        (lk.BUSY, Outcome.BUSY, "486"),
        (lk.NO_ANSWER, Outcome.NO_ANSWER, "480"),
        (lk.DECLINED, Outcome.REJECTED, "603"),
        (lk.UNREACHABLE, Outcome.UNREACHABLE, "404"),
        (lk.FAILED, Outcome.FAILED, "503"),
    ],
)
def test_a_sip_failure_at_dial_ends_the_attempt_with_its_sip_status(
    fake: FakeLiveKit, kind: str, outcome: Outcome, code: str
) -> None:
    """A SIP status at create ends the attempt at once with that status as evidence, lets the
    room go, and LiveKit's webhooks about it do not end it a second time."""
    fake.scenarios["+33600000000"] = Scenario(kind)

    async def script(gateway: LiveKitGateway) -> DialEnded:
        with pytest.raises(DialEnded) as raised:
            await gateway.place_call(dial("+33600000000"))
        return raised.value

    ended = run(fake.url, script)

    assert isinstance(ended, GatewayError)
    assert (ended.result.attempt_id, ended.result.outcome) == ("a1", outcome)
    assert (ended.result.provider_code, ended.result.answered_by) == (code, None)
    assert fake.deleted == ["rc-a1"]
    assert finals(read_all(fake.take_deliveries())) == []


def test_a_duplicate_final_report_reads_the_same_and_changes_nothing(fake: FakeLiveKit) -> None:
    """The agent's report and room_finished sent twice each read as finals for the same
    attempt and outcome: the store keeps the first end and ignores the rest."""
    place_and_play(fake, "+33612345670", Scenario(lk.DUPLICATE_FINAL))

    ends = finals(read_all(fake.take_deliveries()))
    assert len(ends) == 4
    assert ends[0] == ends[1]
    assert {(e.attempt_id, e.outcome) for e in ends} == {("a1", Outcome.COMPLETED)}


def test_a_final_report_that_never_comes_is_found_by_reconciliation(fake: FakeLiveKit) -> None:
    """When the callee hangs up and no report or room_finished follows, call_state says the
    call is live while the callee is on the line, then completed, and lets the room go."""
    fake.scenarios["+33612345671"] = Scenario(lk.NO_FINAL)

    async def script(gateway: LiveKitGateway) -> tuple[CallResult | None, CallResult | None]:
        await gateway.place_call(dial("+33612345671"))
        live = await gateway.call_state("a1", NOW + timedelta(minutes=1))
        fake.play("a1")
        assert finals(read_all(fake.take_deliveries())) == []
        return live, await gateway.call_state("a1", NOW + timedelta(hours=2))

    live, ended = run(fake.url, script)

    assert live is None
    assert ended is not None
    assert (ended.outcome, ended.answered_at, ended.provider_code) == (
        Outcome.COMPLETED,
        NOW,
        "callee_left",
    )
    assert fake.deleted == ["rc-a1"]
    # letting the room go makes LiveKit send room_finished at last: the same outcome again
    assert {f.outcome for f in finals(read_all(fake.take_deliveries()))} == {Outcome.COMPLETED}


def test_a_fresh_gateway_reconciles_a_call_another_worker_placed(fake: FakeLiveKit) -> None:
    """A worker that did not place the call (the dialler died) finds it by the attempt's
    room alone: live while the callee is on the line, then completed, and lets the room go;
    a room whose gateway ended it reads that end (no agent ever joined)."""
    fake.scenarios["+33612345684"] = Scenario(lk.NO_FINAL)
    fake.scenarios["+33612345685"] = Scenario(lk.AGENT_NEVER_JOINS)

    async def dial_and_die(gateway: LiveKitGateway) -> None:
        await gateway.place_call(dial("+33612345684", "a1"))
        await gateway.place_call(dial("+33612345685", "a2"))

    run(fake.url, dial_and_die, drain=False, agent_join_timeout_s=60)
    assert run(fake.url, lambda g: g.call_state("a1", NOW + timedelta(minutes=1))) is None
    fake.play("a1")
    ended = run(fake.url, lambda g: g.call_state("a1", NOW + timedelta(hours=2)))
    alone = run(
        fake.url,
        lambda g: g.call_state("a2", NOW + timedelta(seconds=61)),
        agent_join_timeout_s=60,
    )

    assert ended is not None
    assert (ended.outcome, ended.provider_code) == (Outcome.COMPLETED, "callee_left")
    assert alone is not None
    assert (alone.outcome, alone.provider_code) == (Outcome.PROVIDER_ERROR, "agent_never_joined")
    assert sorted(fake.deleted) == ["rc-a1", "rc-a2"]


def test_reconciliation_of_a_room_that_is_gone_cannot_say(fake: FakeLiveKit) -> None:
    """A call whose room LiveKit has closed leaves no record of how it went: None."""

    async def script(gateway: LiveKitGateway) -> CallResult | None:
        return await gateway.call_state("never-dialled", NOW)

    assert run(fake.url, script) is None


def test_ringing_after_completed_is_progress_only(fake: FakeLiveKit) -> None:
    """A stale ``ringing`` arriving after the call completed is progress, never an end."""
    place_and_play(fake, "+33612345672", Scenario(lk.RINGING_AFTER_COMPLETED))

    readings = read_all(fake.take_deliveries())
    assert readings[-1] == CallbackReading("a1", None, "ringing")
    assert {f.outcome for f in finals(readings)} == {Outcome.COMPLETED}


@pytest.mark.parametrize("kind", [lk.LOST_5XX, lk.LOST_RESET])
def test_a_create_lost_after_placing_is_found_and_never_placed_twice(
    fake: FakeLiveKit, kind: str
) -> None:
    """A create that placed the call, then answered 503 or dropped the connection, is found
    in the attempt's room: Accepted with the live call's id, one call placed, one request."""
    accepted = place_and_play(fake, "+33612345673", Scenario(kind))

    assert len(fake.placed) == 1
    assert [name for name, _ in fake.requests].count("CreateSIPParticipant") == 1
    assert accepted.gateway_call_id == fake.call_ids[0]
    first = finals(read_all(fake.take_deliveries()))[0]
    assert first.outcome is Outcome.COMPLETED


def test_a_repeated_dial_while_the_room_lives_returns_the_same_call(fake: FakeLiveKit) -> None:
    """Dialling an attempt again while its room lives answers with the call already placed
    instead of dialling the number a second time."""

    async def script(gateway: LiveKitGateway) -> tuple[Accepted, Accepted]:
        return await gateway.place_call(dial("+33612345683")), await gateway.place_call(
            dial("+33612345683")
        )

    first, again = run(fake.url, script)

    assert first == again
    assert len(fake.placed) == 1


def test_settings_keep_their_secrets_out_of_sight() -> None:
    """Settings read from a connection body ignore unknown keys, default the timeouts, and
    never show the API key pair in their repr (which ends up in logs)."""
    settings = LiveKitSettings.from_mapping(
        {
            "url": "https://lk.example",
            "api_key": "APIkey",
            "api_secret": "s3cr3t-value",
            "sip_trunk_id": lk.TRUNK_ID,
            "agent_name": "a",
            "unknown": 1,
        }
    )

    assert (settings.ringing_timeout_s, settings.max_call_duration_s) == (30, 1800)
    assert settings.agent_join_timeout == timedelta(seconds=20)
    assert "APIkey" not in repr(settings)
    assert "s3cr3t" not in repr(settings)
    with pytest.raises(ValueError, match="sip_trunk_id"):
        LiveKitSettings.from_mapping({"url": "https://lk.example", "api_key": "k"})


def test_a_429_is_unavailable_and_places_nothing(fake: FakeLiveKit) -> None:
    """A 429 with no SIP status means LiveKit refused to dial now: GatewayUnavailable, no
    call placed, and the prepared room let go."""
    fake.scenarios["+33612345674"] = Scenario(lk.RATE_LIMITED)

    async def script(gateway: LiveKitGateway) -> None:
        with pytest.raises(GatewayUnavailable, match="429"):
            await gateway.place_call(dial("+33612345674"))

    run(fake.url, script)

    assert fake.placed == []
    assert fake.deleted == ["rc-a1"]


def test_a_4xx_refusal_is_rejected_and_places_nothing(fake: FakeLiveKit) -> None:
    """A 400 with no SIP status refuses this call as asked: GatewayRejected, nothing placed."""
    fake.scenarios["+33612345675"] = Scenario(lk.INVALID)

    async def script(gateway: LiveKitGateway) -> None:
        with pytest.raises(GatewayRejected, match="400"):
            await gateway.place_call(dial("+33612345675"))

    run(fake.url, script)

    assert fake.placed == []


def test_an_unreachable_livekit_is_unavailable() -> None:
    """A LiveKit nobody answers at is GatewayUnavailable before anything is dialled."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def script(gateway: LiveKitGateway) -> None:
        with pytest.raises(GatewayUnavailable, match="unreachable"):
            await gateway.place_call(dial("+33612345676"))

    run(f"http://127.0.0.1:{port}", script)


def test_busy_after_answer_ends_busy(fake: FakeLiveKit) -> None:
    """A call LiveKit reported answered whose leg then ends USER_REJECTED ends busy first."""
    place_and_play(fake, "+33612345677", Scenario(lk.BUSY_AFTER_ANSWER))

    first = finals(read_all(fake.take_deliveries()))[0]
    assert (first.outcome, first.provider_code, first.answered_by) == (
        Outcome.BUSY,
        "USER_REJECTED",
        None,
    )


def test_an_agent_that_never_joins_ends_provider_error_and_is_hung_up(
    fake: FakeLiveKit,
) -> None:
    """At the agent-join deadline a callee alone in the room is hung up (DeleteRoom) and
    room_finished ends the attempt provider_error."""
    fake.scenarios["+33612345680"] = Scenario(lk.AGENT_NEVER_JOINS)

    async def script(gateway: LiveKitGateway) -> None:
        await gateway.place_call(dial("+33612345680"))
        await gateway.drain()

    run(fake.url, script)

    assert fake.deleted == ["rc-a1"]
    (end,) = finals(read_all(fake.take_deliveries()))
    assert (end.outcome, end.provider_code) == (Outcome.PROVIDER_ERROR, "agent_never_joined")


def test_reconciliation_hangs_up_a_call_no_agent_joined(fake: FakeLiveKit) -> None:
    """If the worker that dialled died before the deadline, call_state ends the lone callee's
    call provider_error and hangs it up."""
    fake.scenarios["+33612345681"] = Scenario(lk.AGENT_NEVER_JOINS)

    async def script(gateway: LiveKitGateway) -> CallResult | None:
        await gateway.place_call(dial("+33612345681"))
        return await gateway.call_state("a1", NOW + timedelta(seconds=61))

    ended = run(fake.url, script, drain=False, agent_join_timeout_s=60)

    assert ended is not None
    assert (ended.outcome, ended.provider_code) == (Outcome.PROVIDER_ERROR, "agent_never_joined")
    assert fake.deleted == ["rc-a1"]


def test_a_tampered_unsigned_or_wrongly_signed_report_is_refused(fake: FakeLiveKit) -> None:
    """A webhook whose body changed, one with no token, and a report signed with another
    secret all raise SignatureInvalid."""
    place_and_play(fake, "+33612345682", Scenario(lk.HUMAN))
    webhook = fake.take_deliveries()[0]
    body = agent_report_payload("a1", "completed")
    tampered = Delivery(webhook.url, webhook.headers, webhook.body.replace(b"rc-a1", b"rc-a2"))
    unsigned = Delivery(webhook.url, {"Content-Type": "application/webhook+json"}, webhook.body)
    forged = Delivery(CALLBACK, agent_report_headers(body, lk.API_KEY, "x" * 40), body)

    for delivery in (tampered, unsigned, forged):
        with pytest.raises(SignatureInvalid):
            read_all([delivery])


def test_a_webhook_about_another_room_is_acknowledged_and_ignored(fake: FakeLiveKit) -> None:
    """LiveKit sends every room's webhooks to one URL: a room ringcast did not make reads
    as no attempt at all."""
    other = fake.signed_webhook("room_finished", "someone-elses-room")

    assert read_all([other]) == [CallbackReading(None, None, None)]


def test_a_signed_report_ringcast_cannot_read_is_malformed() -> None:
    """An agent's report with an outcome the agent cannot give is CallbackUnreadable, after
    its signature checked out; the helper refuses to build one."""
    body = json.dumps(
        {"event": "ringcast_agent_report", "attempt_id": "a1", "outcome": "busy"}
    ).encode()
    report = Delivery(CALLBACK, agent_report_headers(body, lk.API_KEY, lk.API_SECRET), body)

    with pytest.raises(CallbackUnreadable):
        read_all([report])
    with pytest.raises(ValueError, match="outcome"):
        agent_report_payload("a1", "busy")
