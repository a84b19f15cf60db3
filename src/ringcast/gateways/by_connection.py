"""The gateway each call goes out through: its connection's own, else the deployment's.

A registered connection names its gateway (``simulator`` with its own outcome mix, or
``http`` with its own runtime URL and secret). Connections are looked up by (organization,
id) and kept for ``ttl``, so a busy dispatcher does not read the row for every dial and
a changed connection is used within seconds. A route to a connection nobody registered
goes out through the deployment's gateway (``RINGCAST_GATEWAY``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from ringcast.clock import Clock
from ringcast.core.step import CallResult
from ringcast.gateways.base import Accepted, CallGateway, DialRequest
from ringcast.gateways.http import DIAL_TIMEOUT
from ringcast.ports import CallLog, ConnectionRegistry
from ringcast.records import CallRecord, Connection

#: How long a looked-up connection is used before it is read again.
CONNECTION_TTL = timedelta(seconds=5)

#: What a built gateway was built from: a changed one is rebuilt.
Fingerprint = tuple[str, list[tuple[str, object]]]


class ConnectionLookups(CallLog, ConnectionRegistry, Protocol):
    """Which connection an attempt went out through, and its gateway settings."""


class ConnectionGateways(CallGateway):
    supports_idempotency = True  # each gateway below is idempotent by attempt id

    def __init__(
        self,
        default: CallGateway,
        store: ConnectionLookups,
        clock: Clock,
        build: Callable[[Connection], CallGateway],
        ttl: timedelta = CONNECTION_TTL,
        retire_after: timedelta = DIAL_TIMEOUT + timedelta(seconds=1),
    ) -> None:
        self.default = default
        self.store = store
        self.clock = clock
        self.build = build
        self.ttl = ttl
        self.retire_after = retire_after
        self._known: dict[tuple[str, str], tuple[datetime, Connection | None]] = {}
        #: built gateways by connection and the settings they were built from
        self._gateways: dict[tuple[str, str], tuple[Fingerprint, CallGateway]] = {}
        self._retiring: set[CallGateway] = set()  #: replaced, closed once their dials are
        self._closing: set[asyncio.Future[None]] = set()  #: replaced gateways being closed

    async def place_call(self, request: DialRequest) -> Accepted:
        gateway = await self._gateway(request.org_id, request.connection_id)
        return await gateway.place_call(request)

    async def call_state(
        self, attempt_id: str, now: datetime, call: CallRecord | None = None
    ) -> CallResult | None:
        """Ask the gateway the attempt went out through, with the store's record of it."""
        record = call or await asyncio.to_thread(self.store.get_call, attempt_id)
        if record is None:
            return None
        gateway = await self._gateway(record.org_id, record.attempt.connection_id)
        return await gateway.call_state(attempt_id, now, record)

    async def drain(self) -> None:
        for gateway in self._held():
            await gateway.drain()

    async def aclose(self) -> None:
        """Close every gateway held, replaced ones too, and wait for those being closed."""
        retiring, self._retiring = list(self._retiring), set()
        for gateway in [*self._held(), *retiring]:
            await gateway.aclose()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _held(self) -> list[CallGateway]:
        return [self.default, *(g for _, g in self._gateways.values())]

    async def _gateway(self, org_id: str, connection_id: str | None) -> CallGateway:
        if not connection_id or not org_id:
            return self.default
        key = (org_id, connection_id)
        now = self.clock.now()
        seen = self._known.get(key)
        if seen is None or now - seen[0] >= self.ttl:
            connection = await asyncio.to_thread(self.store.get_connection, org_id, connection_id)
            seen = self._known[key] = (now, connection)
        connection = seen[1]
        if connection is None:
            return self.default
        fingerprint = (connection.gateway, sorted(connection.settings.items()))
        built = self._gateways.get(key)
        if built is None or built[0] != fingerprint:
            if built is not None:
                self._retire(built[1])
            built = self._gateways[key] = (fingerprint, self.build(connection))
        return built[1]

    def _retire(self, gateway: CallGateway) -> None:
        """Close a replaced gateway once its dials in flight are answered (a dial request
        waits at most ``DIAL_TIMEOUT``): closing it at once could cut one."""
        self._retiring.add(gateway)
        asyncio.get_running_loop().call_later(
            self.retire_after.total_seconds(), self._close, gateway
        )

    def _close(self, gateway: CallGateway) -> None:
        if gateway not in self._retiring:
            return  # closed already, with all the others (``aclose``)
        self._retiring.discard(gateway)
        closing = asyncio.ensure_future(gateway.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
