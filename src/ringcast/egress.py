"""Egress: the one way ringcast sends a request to an address a customer gave it.

Webhook URLs, pre-dial hooks, a connection's agent runtime (dials and reconciliation
questions alike) and a provider connection's API address are the customer's to choose; a
request to one of them must not reach the machine ringcast runs on or its private
network. Two defences, one rule (``refusal``):

* **When the URL is set** (``check_destination``): a URL whose host does not resolve to
  public addresses only is refused, so the customer hears of it at once (a 4xx naming
  the field, raised by the service that stores it).
* **When a request is sent** (``client``): an ``httpx.AsyncClient`` whose connections are
  opened by ``VettedBackend``. It resolves the name once, refuses the host if any of its
  addresses is not public, and connects to an address it checked: there is no second
  lookup for a rebinding DNS server to answer differently. The URL is not rewritten, so
  the ``Host`` header, the TLS SNI and the certificate check all use the name, and a
  pooled connection is only reused for the same name. Proxies from the environment are
  ignored (a proxy would resolve the name itself); redirects are never followed.

An address is public when it is globally routable unicast: loopback, private, shared
(CGNAT), link-local, multicast, reserved and documentation ranges are not. An IPv6
address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, the deprecated
IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4
``2002::/16``, Teredo ``2001::/32``) is judged by the IPv4 address it carries as well.

``RINGCAST_WEBHOOKS_ALLOW_PRIVATE`` (``allow_private``) lets every address through, for
development and tests; names are still resolved once and connected to as resolved.

What a tenant sees of a refusal (``str(AddressRefused)``) never says how, or whether, the
name resolved: that would let a customer map ringcast's network through error messages.
The resolution is kept in ``AddressRefused.detail`` for the operator's log.

Provider SDKs (Twilio over ``requests``, LiveKit over ``aiohttp``, Retell over its own
``httpx`` client) open their own connections: their base URL is vetted when the
connection is registered and before each request (``gateways.by_connection``), but the
SDK resolves the name again, so a DNS server that rebinds between the two is not
defeated for them. Their default hosts (Twilio's and Retell's public APIs) are
ringcast's choice and are not checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import structlog

log = structlog.get_logger("ringcast.egress")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``getaddrinfo``'s answer as far as it matters here: the addresses, as text
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: Ranges that are not public although Python's ``is_global`` (3.11) may say they are.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "240.0.0.0/4",
        "fec0::/10",  # site-local (deprecated)
        "100::/64",  # discard-only
        "64:ff9b:1::/48",  # NAT64 for local use
    )
)
#: IPv4-compatible (deprecated): never a destination in its own right
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


class AddressRefused(Exception):
    """The URL's host may not be reached. ``str()`` is safe to show the customer;
    ``detail`` (how the name resolved) is for the operator's log only."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"{host or 'the host'} is not a public address ringcast may reach")
        self.host = host
        self.detail = detail


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not public, or None when it is."""
    for carried in _embedded_ipv4(address):
        why = refusal(carried)
        if why is not None:
            return f"it carries {carried}, and {why}"
    if address in _NAT64:
        return None  # a public IPv4 address through NAT64 (DNS64 on an IPv6-only host)
    if address.is_loopback:
        return "it is a loopback address"
    if address.is_link_local:
        return "it is a link-local address"
    if address.is_multicast:
        return "it is a multicast address"
    if address.is_unspecified:
        return "it is the unspecified address"
    if address in _IPV4_COMPATIBLE:
        return "it is an IPv4-compatible address"
    if any(address in net for net in _NOT_PUBLIC if net.version == address.version):
        return "it is in a special-purpose range"
    if address.is_private or address.is_reserved or not address.is_global:
        return "it is not globally routable"
    return None


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (none for an IPv4 one)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    value = int(address)
    carried: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        carried.append(address.ipv4_mapped)
    if address in _IPV4_COMPATIBLE or address in _NAT64:  # ::a.b.c.d, 64:ff9b::a.b.c.d
        carried.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address.sixtofour is not None or address in _SIX_TO_FOUR:
        carried.append(ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF))
    if address in _TEREDO:
        server, client = address.teredo or (None, None)
        carried.extend(a for a in (server, client) if a is not None)
    return carried


def vet(host: str, addresses: Iterable[str], allow_private: bool) -> list[str]:
    """The addresses to connect to, in order; ``AddressRefused`` when there are none or
    any of them is not public (a name with one private address is refused whole: which
    one a client would pick is not ringcast's to guess)."""
    found: list[str] = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone is not kept
        why = None if allow_private else refusal(address)
        if why is not None:
            raise AddressRefused(host, f"{host} resolves to {address}: {why}")
        if str(address) not in found:
            found.append(str(address))
    if not found:
        raise AddressRefused(host, f"{host} has no address")
    return found


def _lookup(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(host, f"cannot resolve {host}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _host_port(url: str) -> tuple[str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused("", f"{url!r} is not a URL: {exc}") from None
    host = parts.hostname or ""
    if not host:
        raise AddressRefused("", f"{url!r} names no host")
    default = 443 if parts.scheme in ("https", "wss") else 80
    return host, port or default


def check_destination(url: str, allow_private: bool) -> None:
    """Raise ``AddressRefused`` unless the URL's host resolves to public addresses only.

    With ``allow_private`` nothing is looked up: the deployment has said any address will
    do, and a name this machine cannot resolve yet may resolve where requests are sent.
    It resolves the name, so it blocks: run it off the event loop.
    """
    host, port = _host_port(url)
    if allow_private:
        return
    vet(host, _lookup(host, port), allow_private=False)


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The system's resolver, off the event loop."""
    return await asyncio.to_thread(_lookup, host, port)


class VettedBackend(httpcore.AsyncNetworkBackend):
    """Opens every connection to an address ``vet`` passed, from one lookup of the name."""

    def __init__(
        self,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = vet(host, await self.resolver(host, port), self.allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # vet never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002 (the interface's; nothing is opened)
        timeout: float | None = None,  # noqa: ARG002
        socket_options: Iterable[Any] | None = None,  # noqa: ARG002
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("egress never connects to a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with ``VettedBackend`` under its connection pool."""

    def __init__(
        self,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(verify=verify, trust_env=False)
        # httpx takes no network backend; its pool is rebuilt with the same SSL context
        # and httpx's default limits, around ours (httpx 0.28's own construction).
        pool = self._pool
        assert isinstance(pool, httpcore.AsyncConnectionPool)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context,
            max_connections=httpx.Limits().max_connections,
            max_keepalive_connections=httpx.Limits().max_keepalive_connections,
            keepalive_expiry=httpx.Limits().keepalive_expiry,
            network_backend=VettedBackend(allow_private, resolver),
        )


def client(
    allow_private: bool,
    *,
    timeout: float | None = None,
    resolver: Resolver = system_resolver,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The client every request to a customer-given address goes through."""
    return httpx.AsyncClient(
        transport=VettedTransport(allow_private, resolver, verify),
        timeout=timeout if timeout is not None else httpx.Timeout(5.0),
        follow_redirects=False,
        trust_env=False,
    )


def log_refusal(exc: AddressRefused, **where: object) -> None:
    """Tell the operator how the name resolved (the customer is told only ``str(exc)``)."""
    log.warning("destination refused", host=exc.host, detail=exc.detail, **where)
