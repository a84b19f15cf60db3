"""Which gateway a dial goes out through, and what happens to one whose settings changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from ringcast.clock import VirtualClock
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.db.memory import MemoryStore
from ringcast.gateways.base import Accepted, CallGateway, DialRequest
from ringcast.gateways.by_connection import ConnectionGateways
from ringcast.records import CallRecord, Connection

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


class Client:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Recording(CallGateway):
    """A gateway that records the dials it is given, with an HTTP client to close; it
    says every call it placed ended busy, and waits for nothing."""

    supports_idempotency = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = Client()
        self.dialled: list[str] = []
        self.records: list[CallRecord | None] = []  #: what reconciliation was told
        self.drained = False

    async def aclose(self) -> None:
        await self.client.aclose()

    async def drain(self) -> None:
        self.drained = True

    async def place_call(self, request: DialRequest) -> Accepted:
        self.dialled.append(request.attempt_id)
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
    return DialRequest(attempt_id, "+33612345678", None, connection_id, "c1", "a1", 1, {}, "org")


def test_dials_follow_their_connection_and_a_replaced_gateway_is_closed_later() -> None:
    """Each dial goes out through its connection's gateway (else the default); a gateway
    whose settings changed is rebuilt, and the old one closed once its dials are done."""
    store, clock = MemoryStore(), VirtualClock(T0)
    default = Recording("default")
    built: list[Recording] = []

    def build(connection: Connection) -> Recording:
        built.append(Recording(f"{connection.id}:{connection.settings['url']}"))
        return built[-1]

    def register(url: str) -> None:
        store.put_connection(
            Connection(
                "org", "rt", "rt", "http", {"url": url, "secret": "s" * 16}, (), None, None, T0, T0
            )
        )

    register("https://one.example.com")
    gateways = ConnectionGateways(
        default, store, clock, build, ttl=timedelta(seconds=5), retire_after=timedelta(0)
    )

    async def scenario() -> None:
        assert (await gateways.place_call(request("a1", "rt"))).gateway_call_id.startswith(
            "rt:https://one"
        )
        await gateways.place_call(request("a2", "unregistered"))
        await gateways.place_call(request("a3", None))
        register("https://two.example.com")
        await gateways.place_call(request("a4", "rt"))  # within the ttl: the cached one
        clock.advance(timedelta(seconds=6))
        await gateways.place_call(request("a5", "rt"))  # read again: rebuilt
        await asyncio.sleep(0.01)  # the replaced client's close runs

    asyncio.run(scenario())
    first, second = built
    assert first.dialled == ["a1", "a4"] and second.dialled == ["a5"]
    assert default.dialled == ["a2", "a3"]
    assert first.client.closed and not second.client.closed


def test_a_gateway_that_only_places_calls_has_the_default_capabilities() -> None:
    """A gateway that implements ``place_call`` alone cannot say how a call ended, waits
    for nothing and holds nothing; it is not taken to be idempotent."""
    gateway = PlacesOnly()

    async def scenario() -> CallResult | None:
        await gateway.drain()
        await gateway.aclose()
        return await gateway.call_state("a1", T0)

    assert asyncio.run(scenario()) is None
    assert not gateway.supports_idempotency


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
    """``call_state`` finds the attempt's connection and asks its gateway; draining and
    closing reach every gateway held, the default and a replaced one included."""
    store, clock = MemoryStore(), VirtualClock(T0)
    default = Recording("default")
    built: list[Recording] = []

    def build(connection: Connection) -> Recording:
        built.append(Recording(f"{connection.id}:{connection.settings['url']}"))
        return built[-1]

    def register(url: str) -> None:
        store.put_connection(
            Connection(
                "org", "rt", "rt", "http", {"url": url, "secret": "s" * 16}, (), None, None, T0, T0
            )
        )

    register("https://one.example.com")
    gateways = ConnectionGateways(
        default, Calls(store), clock, build, retire_after=timedelta(hours=1)
    )

    async def scenario() -> tuple[CallResult | None, CallResult | None]:
        await gateways.place_call(request("a1", "rt"))
        known = await gateways.call_state("a1", clock.now())
        unknown = await gateways.call_state("a2", clock.now())
        assert await gateways.call_state("gone", clock.now()) is None  # no such call
        register("https://two.example.com")
        clock.advance(timedelta(seconds=6))
        await gateways.place_call(request("a3", "rt"))  # rebuilt; the first is retiring
        await gateways.drain()
        await gateways.aclose()
        return known, unknown

    known, unknown = asyncio.run(scenario())
    assert known is not None and known.outcome is Outcome.BUSY
    assert known.failure_reason == "rt:https://one.example.com"
    assert unknown is None  # its gateway cannot say
    first, second = built
    assert default.drained and second.drained
    assert default.client.closed and first.client.closed and second.client.closed
