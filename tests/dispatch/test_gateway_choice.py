"""Which gateway a dial goes out through, what happens to one whose settings changed, how
provider gateways are built from a connection, and how a dial that ended at once is
recorded."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from ringcast.clock import VirtualClock
from ringcast.core.model import Attempt, ContactState, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.step import CallResult
from ringcast.core.windows import WHOLE_DAY, WeeklyWindow
from ringcast.db.memory import MemoryStore
from ringcast.dispatch.loop import Dispatcher
from ringcast.gateways.base import (
    Accepted,
    CallGateway,
    DialEnded,
    DialRequest,
    GatewayRejected,
    GatewayUnavailable,
    SignatureInvalid,
)
from ringcast.gateways.by_connection import ConnectionGateways
from ringcast.gateways.livekit import LiveKitGateway
from ringcast.gateways.retell import RetellGateway
from ringcast.gateways.twilio import TwilioGateway
from ringcast.records import CallRecord, Connection
from tests.integration.factories import campaign, contacts, seed_account

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)
PUBLIC_URL = "https://ringcast.example.com/"
LOOPBACK = "http://127.0.0.1:9"  # a provider fake's address: private, refused unless allowed
TWILIO = {
    "account_sid": "AC" + "0123456789abcdef" * 2,
    "auth_token": "twilio-auth-token",
    "answer_url": "https://agent.example.com/twiml",
    "api_base_url": LOOPBACK,
}
LIVEKIT = {
    "url": LOOPBACK,
    "api_key": "APIkey",
    "api_secret": "livekit-secret-that-is-long-enough",
    "sip_trunk_id": "ST_trunk",
    "agent_name": "agent",
}
RETELL = {"api_key": "key_test", "agent_id": "agent_1", "api_base_url": LOOPBACK}


class Client:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Recording(CallGateway):
    """A gateway that records the dials it is given, with an HTTP client to close; it
    says every call it placed ended busy, and waits for nothing. A dial waits for
    ``answer`` to be set, as a LiveKit dial waits for the callee to pick up."""

    supports_idempotency = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = Client()
        self.dialled: list[str] = []
        self.records: list[CallRecord | None] = []  #: what reconciliation was told
        self.drained = False
        self.answer = asyncio.Event()
        self.answer.set()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def drain(self) -> None:
        self.drained = True

    async def place_call(self, request: DialRequest) -> Accepted:
        self.dialled.append(request.attempt_id)
        await self.answer.wait()
        return Accepted(f"{self.name}-{request.attempt_id}")

    async def call_state(
        self, attempt_id: str, now: datetime, call: CallRecord | None = None
    ) -> CallResult | None:
        self.records.append(call)
        if attempt_id not in self.dialled:
            return None
        return CallResult(attempt_id, Outcome.BUSY, now, failure_reason=self.name)


class PlacesOnly(CallGateway):
    """A gateway with no capability beyond placing calls."""

    async def place_call(self, request: DialRequest) -> Accepted:
        return Accepted(request.attempt_id)


def request(attempt_id: str, connection_id: str | None) -> DialRequest:
    return DialRequest(
        attempt_id, "+33612345678", "+33100000001", connection_id, "c1", "a1", 1, {}, "org"
    )


def connection(gateway: str, settings: dict[str, Any], connection_id: str = "rt") -> Connection:
    return Connection(
        "org", connection_id, connection_id, gateway, settings, (), None, None, T0, T0
    )


def built_by_url(built: list[Recording]) -> Any:
    """A ``build`` for simulator and http connections that names each gateway after its
    connection and runtime URL, and keeps them in ``built``."""

    def build(c: Connection) -> Recording:
        built.append(Recording(f"{c.id}:{c.settings['url']}"))
        return built[-1]

    return build


def register(store: MemoryStore, url: str) -> None:
    store.put_connection(connection("http", {"url": url, "secret": "s" * 16}))


async def settle() -> None:
    """Let the tasks that are ready run (a replaced gateway's close), without waiting."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_dials_follow_their_connection_and_a_replaced_gateway_is_closed_later() -> None:
    """Each dial goes out through its connection's gateway (else the default); a gateway
    whose settings changed is rebuilt, and the old one closed once its dials are done."""
    store, clock = MemoryStore(), VirtualClock(T0)
    default = Recording("default")
    built: list[Recording] = []
    register(store, "https://one.example.com")
    gateways = ConnectionGateways(
        default, store, clock, built_by_url(built), ttl=timedelta(seconds=5)
    )

    async def scenario() -> None:
        assert (await gateways.place_call(request("a1", "rt"))).gateway_call_id.startswith(
            "rt:https://one"
        )
        await gateways.place_call(request("a2", "unregistered"))
        await gateways.place_call(request("a3", None))
        register(store, "https://two.example.com")
        await gateways.place_call(request("a4", "rt"))  # within the ttl: the cached one
        clock.advance(timedelta(seconds=6))
        await gateways.place_call(request("a5", "rt"))  # read again: rebuilt
        await settle()  # the replaced gateway's close runs

    asyncio.run(scenario())
    first, second = built
    assert first.dialled == ["a1", "a4"] and second.dialled == ["a5"]
    assert default.dialled == ["a2", "a3"]
    assert first.drained and first.client.closed and not second.client.closed


def test_a_replaced_gateway_is_not_closed_while_one_of_its_dials_rings() -> None:
    """A gateway replaced while one of its dials waits for the callee is closed only once
    that dial is answered, however long it rings, and after it has drained."""
    store, clock = MemoryStore(), VirtualClock(T0)
    built: list[Recording] = []
    register(store, "https://one.example.com")
    gateways = ConnectionGateways(Recording("default"), store, clock, built_by_url(built))

    async def scenario() -> tuple[bool, Accepted]:
        await gateways.place_call(request("a0", "rt"))  # builds the first gateway
        built[0].answer.clear()
        ringing = asyncio.create_task(gateways.place_call(request("a1", "rt")))
        await settle()
        register(store, "https://two.example.com")
        clock.advance(timedelta(minutes=1))
        await gateways.place_call(request("a2", "rt"))  # rebuilt; the first is retiring
        await settle()
        closed_while_ringing = built[0].client.closed
        built[0].answer.set()
        answered = await ringing
        await settle()
        return closed_while_ringing, answered

    closed_while_ringing, answered = asyncio.run(scenario())
    assert not closed_while_ringing
    assert answered == Accepted("rt:https://one.example.com-a1")
    assert built[0].drained and built[0].client.closed


def test_a_gateway_that_only_places_calls_has_the_default_capabilities() -> None:
    """A gateway that implements ``place_call`` alone cannot say how a call ended, waits
    for nothing, holds nothing and accepts no callback; it is not taken to be idempotent."""
    gateway = PlacesOnly()

    async def scenario() -> CallResult | None:
        await gateway.drain()
        await gateway.aclose()
        return await gateway.call_state("a1", T0)

    assert asyncio.run(scenario()) is None
    assert not gateway.supports_idempotency
    with pytest.raises(SignatureInvalid):
        gateway.read_callback("https://x.example/cb", {}, b"{}", T0)


class Calls:
    """Stands in for the call log: every attempt but ``gone`` went out through ``rt``."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None:
        return self.store.get_connection(org_id, connection_id)

    def get_call(self, attempt_id: str) -> SimpleNamespace | None:
        if attempt_id == "gone":
            return None
        attempt = SimpleNamespace(id=attempt_id, connection_id="rt")
        return SimpleNamespace(org_id="org", attempt=attempt)


def test_reconciliation_asks_the_gateway_the_call_went_out_through() -> None:
    """``call_state`` finds the attempt's connection and asks its gateway, handing it the
    store's record of the call; draining and closing reach every gateway held, the default
    and a replaced one included."""
    store, clock = MemoryStore(), VirtualClock(T0)
    default = Recording("default")
    built: list[Recording] = []
    register(store, "https://one.example.com")
    gateways = ConnectionGateways(default, Calls(store), clock, built_by_url(built))

    async def scenario() -> tuple[CallResult | None, CallResult | None]:
        await gateways.place_call(request("a1", "rt"))
        known = await gateways.call_state("a1", clock.now())
        unknown = await gateways.call_state("a2", clock.now())
        assert await gateways.call_state("gone", clock.now()) is None  # no such call
        register(store, "https://two.example.com")
        clock.advance(timedelta(seconds=6))
        built[0].answer.clear()
        ringing = asyncio.create_task(gateways.place_call(request("a9", "rt")))
        await settle()
        await gateways.place_call(request("a3", "rt"))  # rebuilt; the first is retiring
        await gateways.drain()
        ringing.cancel()
        await gateways.aclose()
        return known, unknown

    known, unknown = asyncio.run(scenario())
    assert known is not None and known.outcome is Outcome.BUSY
    assert known.failure_reason == "rt:https://one.example.com"
    assert unknown is None  # its gateway cannot say
    first, second = built
    assert [r.attempt.id for r in first.records if r is not None] == ["a1", "a2"]
    assert default.drained and first.drained and second.drained
    assert default.client.closed and first.client.closed and second.client.closed


# --- provider gateways built from a connection ------------------------------------------


def providers(store: MemoryStore, **options: Any) -> ConnectionGateways:
    def build(c: Connection) -> CallGateway:
        raise AssertionError(f"a provider connection went to the deployment's build: {c.id}")

    return ConnectionGateways(
        PlacesOnly(), store, VirtualClock(T0), build, public_url=PUBLIC_URL, **options
    )


@pytest.mark.parametrize(
    ("gateway", "settings", "kind"),
    [
        ("twilio", TWILIO, TwilioGateway),
        ("livekit", LIVEKIT, LiveKitGateway),
        ("retell", RETELL, RetellGateway),
    ],
)
def test_a_provider_connection_gets_its_gateway_and_its_own_callback_url(
    gateway: str, settings: dict[str, Any], kind: type[CallGateway]
) -> None:
    """A twilio, livekit or retell connection is built from its settings, reporting to
    ``{public_url}/ringcast/v1/gateway/{gateway}/{connection_id}`` (the id URL-quoted);
    an unknown connection has no gateway to read callbacks with."""
    store = MemoryStore()
    store.put_connection(connection(gateway, {**settings, "unknown_key": 1}, "paris 1"))
    gateways = providers(store, allow_private=True)

    async def scenario() -> tuple[CallGateway | None, CallGateway | None]:
        found = await gateways.gateway_for("org", "paris 1")
        missing = await gateways.gateway_for("org", "nobody")
        await gateways.aclose()
        return found, missing

    found, missing = asyncio.run(scenario())
    assert isinstance(found, kind)
    expected = f"https://ringcast.example.com/ringcast/v1/gateway/{gateway}/paris%201"
    assert getattr(found, "callback_url", None) == expected
    assert missing is None


def test_the_gateway_for_a_connection_verifies_its_providers_signed_callbacks() -> None:
    """The route's gateway for a twilio connection checks Twilio's signature over the very
    URL the connection's gateway gives Twilio, and reads the report."""
    store = MemoryStore()
    store.put_connection(connection("twilio", TWILIO, "paris"))
    gateways = providers(store, allow_private=True)  # the fake's API is on loopback
    gateway = asyncio.run(gateways.gateway_for("org", "paris"))
    assert isinstance(gateway, TwilioGateway)
    url = gateway.status_url("attempt-1")
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "busy"}
    signature = RequestValidator(TWILIO["auth_token"]).compute_signature(url, params)
    body = "&".join(f"{k}={v}" for k, v in params.items()).encode()

    reading = gateway.read_callback(url, {"X-Twilio-Signature": signature}, body, T0)

    assert reading.attempt_id == "attempt-1"
    assert reading.final is not None and reading.final.outcome is Outcome.BUSY
    with pytest.raises(SignatureInvalid):
        gateway.read_callback(url, {"X-Twilio-Signature": "forged"}, body, T0)


def test_a_private_provider_address_is_refused_unless_the_deployment_allows_it() -> None:
    """A provider API address that resolves to a private one goes through the address
    guard like any destination a customer names: refused, nothing placed, unless
    ``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``; reconciliation through it cannot say, and a
    callback gets no gateway that could send to it."""
    store = MemoryStore()
    store.put_connection(connection("retell", RETELL, "paris"))
    gateways = providers(store)
    attempt = Attempt("a1", "k1", "c1", 0, T0, dialed_at=T0, connection_id="paris")
    record = CallRecord(attempt, "org", "a1", "campaign", "+33612345678", {}, T0)

    async def scenario() -> tuple[CallResult | None, CallGateway | None]:
        with pytest.raises(GatewayRejected, match="not a public address"):
            await gateways.place_call(request("a1", "paris"))
        known = await gateways.call_state("a1", T0, record)
        answering = await gateways.gateway_for("org", "paris")  # a callback could send
        await gateways.aclose()
        return known, answering

    assert asyncio.run(scenario()) == (None, None)


def test_a_provider_connection_without_a_public_url_or_usable_settings_places_nothing() -> None:
    """Without a public URL for its callbacks, or with settings its gateway cannot use
    (no auth token), a provider connection's dial is unavailable and nothing is built."""
    store = MemoryStore()
    store.put_connection(connection("twilio", TWILIO, "no-url"))
    store.put_connection(connection("twilio", {**TWILIO, "auth_token": ""}, "broken"))
    store.put_connection(connection("livekit", {"url": LOOPBACK}, "incomplete"))
    without_url = ConnectionGateways(PlacesOnly(), store, VirtualClock(T0), lambda _: PlacesOnly())
    gateways = providers(store, allow_private=True)

    async def scenario() -> None:
        with pytest.raises(GatewayUnavailable, match="public URL"):
            await without_url.place_call(request("a1", "no-url"))
        assert await without_url.gateway_for("org", "no-url") is None
        for connection_id in ("broken", "incomplete"):
            with pytest.raises(GatewayUnavailable, match="not usable"):
                await gateways.place_call(request("a2", connection_id))

    asyncio.run(scenario())


# --- a dial that ended at once ----------------------------------------------------------


class EndsAtDial(CallGateway):
    """A provider that answers the dial itself with busy, as LiveKit does with SIP 486."""

    async def place_call(self, request: DialRequest) -> Accepted:
        raise DialEnded(
            CallResult(
                request.attempt_id,
                Outcome.BUSY,
                T0 + timedelta(seconds=20),
                failure_reason="SIP 486 Busy Here",
                provider_code="486",
            )
        )


def test_a_dial_that_ended_at_once_is_recorded_as_its_own_end(store: Any) -> None:
    """A ``DialEnded`` from the gateway ends the attempt with the outcome it carries (busy,
    retried by the campaign's busy rule), not as a provider error."""
    org_id, ws_id, agent_id = seed_account(store)
    c = campaign(org_id, ws_id, agent_id)
    c = replace(
        c,
        config=replace(
            c.config,
            schedule=Schedule(WeeklyWindow("UTC", (WHOLE_DAY,))),
            pacing=PacingLimits(attempts_per_second=50),
        ),
    )
    (k,) = contacts(c.id, 1, due_at=T0)
    store.create_campaign(c, [k])
    dispatcher = Dispatcher(store, VirtualClock(T0), EndsAtDial())

    async def one_pass() -> None:
        await dispatcher.step()
        await dispatcher.drain()

    asyncio.run(one_pass())
    (attempt,) = store.attempts_of(k.id)
    assert attempt.outcome is Outcome.BUSY
    assert attempt.ended_at == T0 + timedelta(seconds=20)
    assert attempt.failure_reason == "SIP 486 Busy Here"
    contact = store.get_contact(k.id)
    assert contact.state is ContactState.WAITING  # the busy rule schedules a retry
