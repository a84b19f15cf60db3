"""Which gateway a dial goes out through, and what happens to one whose settings changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ringcast.clock import VirtualClock
from ringcast.db.memory import MemoryStore
from ringcast.gateways.base import Accepted, DialRequest
from ringcast.gateways.by_connection import ConnectionGateways
from ringcast.records import Connection

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


class Client:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class Recording:
    """A gateway that records the dials it is given, with an HTTP client to close."""

    supports_idempotency = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = Client()
        self.dialled: list[str] = []

    async def aclose(self) -> None:
        await self.client.aclose()

    async def place_call(self, request: DialRequest) -> Accepted:
        self.dialled.append(request.attempt_id)
        return Accepted(f"{self.name}-{request.attempt_id}")


def request(attempt_id: str, connection_id: str | None) -> DialRequest:
    return DialRequest(attempt_id, "+33612345678", None, connection_id, "c1", "a1", 1, {}, "org")


def test_dials_follow_their_connection_and_a_replaced_gateway_is_closed_later() -> None:
    """Each dial goes through its connection's gateway or else the default one, and a gateway
    rebuilt once its cache expires closes the one it replaces."""
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
