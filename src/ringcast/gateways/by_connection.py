"""The gateway each call goes out through: its connection's own, else the deployment's.

A registered connection names its gateway. ``simulator`` (its own outcome mix) and
``http`` (its own runtime URL and secret) are built by the ``build`` function the
deployment gives, which holds what they need of it (the dispatcher's report path, the
runtime's callback URL). ``twilio``, ``livekit`` and ``retell`` are built here from the
connection's settings, which are the provider's settings object as registered (the
connection body's ``"twilio"`` object is ``Connection.settings``, as the ``"http"`` one
is), with the callback URL the provider reports to::

    {public_url}/ringcast/v1/gateway/{twilio|livekit|retell}/{connection_id}

A provider's API address is the customer's to give (``api_base_url``, LiveKit's
``url``): unless it is the provider's own public API, it goes through the same address
rule as every destination a customer names (``egress``) each time a connection's gateway
is handed out to send: a dial, a reconciliation question, a callback that may answer
(Twilio's answering-machine update); a connection whose address is refused is not used.
The provider SDKs open their own connections (Twilio's
``requests``, LiveKit's ``aiohttp``, Retell's ``httpx``) and resolve the name again, so
this check does not close the DNS-rebinding window for them the way ``egress.client``
does for webhooks, pre-dial hooks and http runtimes; it does stop a base URL that simply
points at a private address. The ``http`` gateway of a connection sends everything, its
reconciliation questions included, through ``egress.client``.

Connections are looked up by (organization, id) and kept for ``ttl``, so a busy
dispatcher does not read the row for every dial and a changed connection is used within
seconds. A route to a connection nobody registered goes out through the deployment's
gateway (``RINGCAST_GATEWAY``). A gateway whose connection changed is replaced at once for
new dials; the old one is closed once the dials it was placing are answered and it has
drained (a LiveKit dial waits for the callee to pick up: half a minute, or more).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

import structlog

from ringcast.clock import Clock
from ringcast.core.step import CallResult
from ringcast.egress import AddressRefused, check_destination, log_refusal
from ringcast.gateways.base import (
    Accepted,
    CallGateway,
    DialRequest,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
)
from ringcast.gateways.provider_settings import (
    RETELL_API,
    TWILIO_API,
    LiveKitSettings,
    RetellSettings,
    TwilioSettings,
)
from ringcast.ports import CallLog, ConnectionRegistry
from ringcast.records import CallRecord, Connection

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

log = structlog.get_logger("ringcast.gateways")

#: How long a looked-up connection is used before it is read again.
CONNECTION_TTL = timedelta(seconds=5)
#: The gateways built here from a connection's settings, each reporting to its own URL.
PROVIDER_GATEWAYS = ("twilio", "livekit", "retell")
#: Where providers report, under the deployment's public URL.
CALLBACK_PREFIX = "/ringcast/v1/gateway"

#: What a built gateway was built from: a changed one is rebuilt.
Fingerprint = tuple[str, list[tuple[str, object]]]
_Settings = TypeVar("_Settings", bound="DataclassInstance")


class ConnectionLookups(CallLog, ConnectionRegistry, Protocol):
    """Which connection an attempt went out through, and its gateway settings."""


def callback_url(public_url: str, gateway: str, connection_id: str) -> str:
    """Where the provider of ``gateway`` reports on this connection's calls."""
    return f"{public_url.rstrip('/')}{CALLBACK_PREFIX}/{gateway}/{quote(connection_id, safe='')}"


def provider_gateway(
    connection: Connection, public_url: str, clock_now: Callable[[], datetime]
) -> CallGateway:
    """The ``twilio``, ``livekit`` or ``retell`` gateway of a connection, from its settings.

    Raises ``ValueError`` when the settings are not ones the gateway can work with.
    """
    # Each provider's SDK is imported by the first connection that uses it: together they
    # take over a second to import (Retell's models above all), which every server and
    # worker of a deployment that uses none of them would pay at start.
    url = callback_url(public_url, connection.gateway, connection.id)
    given = connection.settings
    if connection.gateway == "twilio":
        from ringcast.gateways.twilio import TwilioGateway

        return TwilioGateway(_settings(TwilioSettings, given), url, clock_now=clock_now)
    if connection.gateway == "livekit":
        from ringcast.gateways.livekit import LiveKitGateway

        return LiveKitGateway(LiveKitSettings.from_mapping(given), url, clock_now=clock_now)
    if connection.gateway == "retell":
        from ringcast.gateways.retell import RetellGateway

        return RetellGateway(_settings(RetellSettings, given), url, clock_now=clock_now)
    raise ValueError(f"{connection.gateway!r} is not one of {', '.join(PROVIDER_GATEWAYS)}")


def provider_api(connection: Connection) -> str | None:
    """The address a provider gateway sends its requests to, when the customer chose it
    (None: the provider's own public API, which is trusted, or not a provider gateway)."""
    official: str | None = None  # a LiveKit server is always the customer's own
    if connection.gateway == "twilio":
        official = TWILIO_API
    elif connection.gateway == "retell":
        official = RETELL_API
    elif connection.gateway != "livekit":
        return None
    api = connection.settings.get("url" if connection.gateway == "livekit" else "api_base_url")
    if not isinstance(api, str) or api.rstrip("/") == official:
        return None
    return api


def _settings(kind: type[_Settings], given: Mapping[str, Any]) -> _Settings:
    """A settings dataclass from the keys of ``given`` that name its fields."""
    known = {f.name for f in fields(kind)}
    try:
        return kind(**{k: v for k, v in given.items() if k in known})
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"{kind.__name__}: {exc}") from None


@dataclass(eq=False)
class _Built:
    """A gateway built for a connection, what it was built from, and the dials it is
    placing (a replaced gateway is closed once there are none)."""

    fingerprint: Fingerprint
    gateway: CallGateway
    #: the customer-given API address checked before each request (None: not checked)
    guarded: str | None
    dialling: int = field(default=0, init=False)
    _idle: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @contextlib.contextmanager
    def dial(self) -> Iterator[None]:
        self.dialling += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.dialling -= 1
            if not self.dialling:
                self._idle.set()

    async def idle(self) -> None:
        """Return once no dial is under way through this gateway."""
        if self.dialling:
            await self._idle.wait()


class ConnectionGateways(CallGateway):
    """Sends each dial through its connection's gateway, built once per settings, and
    gives the callback route the gateway to read a connection's reports with."""

    #: Not every gateway below is: Twilio, LiveKit and Retell keep no idempotency key for
    #: as long as ringcast needs one (their gateways look a lost create up instead).
    supports_idempotency = False

    def __init__(
        self,
        default: CallGateway,
        store: ConnectionLookups,
        clock: Clock,
        build: Callable[[Connection], CallGateway],
        ttl: timedelta = CONNECTION_TTL,
        *,
        public_url: str | None = None,
        allow_private: bool = False,
    ) -> None:
        """
        Args:
            default: the deployment's gateway, for a route to no registered connection.
            build: builds the ``simulator`` and ``http`` gateways of a connection.
            public_url: how providers reach this deployment (``RINGCAST_PUBLIC_URL``);
                without it, a provider connection's calls cannot be placed.
            allow_private: let a provider's API address be a loopback or private one
                (``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``: tests and private networks).
        """
        self.default = default
        self.store = store
        self.clock = clock
        self.build = build
        self.ttl = ttl
        self.public_url = public_url
        self.allow_private = allow_private
        self._known: dict[tuple[str, str], tuple[datetime, Connection | None]] = {}
        self._built: dict[tuple[str, str], _Built] = {}
        #: replaced gateways, each with the task that closes it once it is done
        self._retiring: dict[CallGateway, asyncio.Task[None]] = {}

    async def place_call(self, request: DialRequest) -> Accepted:
        built = await self._for(request.org_id, request.connection_id)
        if built is None:
            return await self.default.place_call(request)
        with built.dial():
            await self._check(built)
            return await built.gateway.place_call(request)

    async def call_state(
        self, attempt_id: str, now: datetime, call: CallRecord | None = None
    ) -> CallResult | None:
        """Ask the gateway the attempt went out through, with the store's record of it
        (a provider gateway may need the number dialled to find the call)."""
        record = call or await asyncio.to_thread(self.store.get_call, attempt_id)
        if record is None:
            return None
        try:
            built = await self._for(record.org_id, record.attempt.connection_id)
            if built is not None:
                await self._check(built)
        except GatewayError as exc:
            log.warning("cannot ask the connection's gateway", attempt=attempt_id, error=str(exc))
            return None
        gateway = self.default if built is None else built.gateway
        return await gateway.call_state(attempt_id, now, record)

    async def gateway_for(self, org_id: str, connection_id: str) -> CallGateway | None:
        """The gateway of the organization's connection, to read its provider's callbacks
        with; None when no such connection is registered or its gateway cannot be built."""
        try:
            built = await self._for(org_id, connection_id)
            if built is not None:  # the callback may make it send (Twilio's AMD update)
                await self._check(built)
        except GatewayError as exc:
            log.warning(
                "cannot build a connection's gateway", connection=connection_id, error=str(exc)
            )
            return None
        return None if built is None else built.gateway

    async def drain(self) -> None:
        for gateway in [*self._held(), *self._retiring]:
            await gateway.drain()

    async def aclose(self) -> None:
        """Close every gateway held, replaced ones too, without waiting for them to drain."""
        retiring, self._retiring = self._retiring, {}
        for closing in retiring.values():
            closing.cancel()
        await asyncio.gather(*retiring.values(), return_exceptions=True)
        for gateway in [*self._held(), *retiring]:
            await gateway.aclose()

    def _held(self) -> list[CallGateway]:
        return [self.default, *(b.gateway for b in self._built.values())]

    async def _for(self, org_id: str, connection_id: str | None) -> _Built | None:
        """The built gateway of a registered connection (None: the default's route).

        Raises ``GatewayUnavailable`` when the connection's gateway cannot be built.
        """
        if not connection_id or not org_id:
            return None
        key = (org_id, connection_id)
        now = self.clock.now()
        seen = self._known.get(key)
        if seen is None or now - seen[0] >= self.ttl:
            connection = await asyncio.to_thread(self.store.get_connection, org_id, connection_id)
            seen = self._known[key] = (now, connection)
        connection = seen[1]
        if connection is None:
            return None
        fingerprint = (connection.gateway, sorted(connection.settings.items()))
        built = self._built.get(key)
        if built is None or built.fingerprint != fingerprint:
            fresh = _Built(fingerprint, self._build(connection), provider_api(connection))
            if built is not None:
                self._retire(built)
            built = self._built[key] = fresh
        return built

    def _build(self, connection: Connection) -> CallGateway:
        if connection.gateway not in PROVIDER_GATEWAYS:
            return self.build(connection)
        if self.public_url is None:
            raise GatewayUnavailable(
                f"connection {connection.id} needs a public URL for {connection.gateway}'s "
                "callbacks, and this process was given none"
            )
        try:
            return provider_gateway(connection, self.public_url, self.clock.now)
        except ValueError as exc:
            raise GatewayUnavailable(
                f"connection {connection.id}: its {connection.gateway} settings are not usable: "
                f"{exc}"[:300]
            ) from None

    async def _check(self, built: _Built) -> None:
        """Refuse a customer-given API address that resolves to a private one."""
        if built.guarded is None:
            return
        try:
            await asyncio.to_thread(check_destination, built.guarded, self.allow_private)
        except AddressRefused as exc:
            log_refusal(exc, api=built.guarded)
            raise GatewayRejected(str(exc)) from None

    def _retire(self, built: _Built) -> None:
        """Close a replaced gateway once the dials it was placing are answered and it has
        drained: closing it at once could cut a call that is ringing."""
        closing = asyncio.get_running_loop().create_task(self._close_when_done(built))
        self._retiring[built.gateway] = closing
        closing.add_done_callback(lambda _: self._retiring.pop(built.gateway, None))

    async def _close_when_done(self, built: _Built) -> None:
        try:
            await built.idle()
            await built.gateway.drain()
            await built.gateway.aclose()
        except Exception:
            log.exception("closing a replaced gateway failed")
