"""Egress: customer URLs may not reach private or local addresses, checked once, connected
to as checked."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest

from ringcast import egress
from ringcast.clock import SystemClock
from ringcast.egress import AddressRefused, VettedBackend, check_destination, refusal

NOT_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.10",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fec0::1",
    "ff02::1",
    "::127.0.0.1",  # IPv4-compatible
    "::8.8.8.8",  # IPv4-compatible, even of a public address: deprecated, never routed
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "64:ff9b::127.0.0.1",  # NAT64 of loopback
    "64:ff9b::169.254.169.254",  # NAT64 of the metadata address
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2001:4860:4860::8888", "64:ff9b::8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_every_non_public_form_is_refused(address: str) -> None:
    """Loopback, private, link-local, special-purpose and every IPv6 form that carries a
    private IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is not public."""
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    """Globally routable unicast passes, NAT64 of a public IPv4 address too (DNS64)."""
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://[::ffff:7f00:1]/hook",
        "http://[::7f00:1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_a_private_or_local_url_is_refused_when_set(url: str) -> None:
    """The check a service runs when a URL is set refuses private hosts, unless private
    addresses are allowed."""
    with pytest.raises(AddressRefused, match="not a public address"):
        check_destination(url, allow_private=False)
    check_destination(url, allow_private=True)


def test_a_public_address_passes() -> None:
    """A literal public address needs no lookup and passes the guard."""
    check_destination("https://93.184.215.14/hook", allow_private=False)


def test_the_refusal_never_says_how_the_name_resolved() -> None:
    """An unresolvable name and a name on loopback are refused in the same words, and
    neither names an address; the resolution is kept for the operator."""
    with pytest.raises(AddressRefused) as unresolved:
        check_destination("http://nowhere.invalid/hook", allow_private=False)
    with pytest.raises(AddressRefused) as local:
        check_destination("http://localhost/hook", allow_private=False)
    assert str(unresolved.value) == "nowhere.invalid is not a public address ringcast may reach"
    assert str(local.value) == "localhost is not a public address ringcast may reach"
    assert "127.0.0.1" not in str(local.value) and "127.0.0.1" in local.value.detail


class _Hook(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        _Hook.seen.append(dict(self.headers))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_port() -> Iterator[int]:
    _Hook.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class Resolver:
    """A DNS server that answers each lookup of a name from a list, in turn (a rebinding
    one answers differently the second time)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:  # noqa: ARG002
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


def test_the_client_connects_to_the_address_it_checked_keeping_the_name(hook_port: int) -> None:
    """A name is resolved once per connection and the request goes to that address, with
    the name in its Host header; a second answer (127.0.0.2, where nothing listens) is
    never used."""
    resolver = Resolver(["127.0.0.1"], ["127.0.0.2"])

    async def send() -> int:
        async with egress.client(True, resolver=resolver) as c:
            r = await c.post(f"http://hooks.example:{hook_port}/x", content=b"{}")
            return r.status_code

    assert asyncio.run(send()) == 204
    assert resolver.asked == ["hooks.example"]
    assert _Hook.seen[0]["Host"] == f"hooks.example:{hook_port}"


def test_a_name_with_any_private_address_is_refused_before_connecting(hook_port: int) -> None:
    """A name that resolves to a public and a loopback address is refused as a whole, and
    nothing reaches the loopback listener."""
    resolver = Resolver(["93.184.215.14", "127.0.0.1"])

    async def send() -> None:
        async with egress.client(False, resolver=resolver) as c:
            await c.post(f"http://hooks.example:{hook_port}/x", content=b"{}")

    with pytest.raises(AddressRefused, match="not a public address"):
        asyncio.run(send())
    assert _Hook.seen == []


def test_a_rebinding_name_is_connected_to_as_first_checked() -> None:
    """The address handed to the socket is the one that was vetted: a DNS server that
    would answer loopback on a second lookup is never asked again."""
    resolver = Resolver(["93.184.215.14"], ["127.0.0.1"])
    dialled: list[str] = []

    class Recording(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, *_: Any, **__: Any) -> Any:
            dialled.append(host)
            raise httpcore.ConnectError("not in a test")

    backend = VettedBackend(False, resolver, inner=Recording())
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("rebind.example", 443))
    assert dialled == ["93.184.215.14"] and resolver.asked == ["rebind.example"]


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (and its key), signed by itself."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = SystemClock().now()  # a certificate is checked against the wall clock
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_is_spoken_to_the_name_while_connecting_to_the_vetted_address(
    tmp_path: Path,
) -> None:
    """Over https the connection goes to the checked address, but the TLS handshake sends
    the name (SNI) and the certificate is verified against the name, not the address."""
    cert, key = _self_signed(tmp_path, "hooks.example")
    _Hook.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    names: list[str | None] = []
    served.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc]
    server.socket = served.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    trusting = ssl.create_default_context(cafile=str(cert))
    resolver = Resolver(["127.0.0.1"])

    async def send() -> int:
        async with egress.client(True, resolver=resolver, verify=trusting) as c:
            r = await c.post(f"https://hooks.example:{port}/x", content=b"{}")
            return r.status_code

    try:
        assert asyncio.run(send()) == 204
    finally:
        server.shutdown()
        server.server_close()
    assert names == ["hooks.example"] and resolver.asked == ["hooks.example"]
    assert _Hook.seen[0]["Host"] == f"hooks.example:{port}"
