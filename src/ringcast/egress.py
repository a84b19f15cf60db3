"""The private-address guard: where ringcast may send a request a customer pointed it at.

Webhook URLs, pre-dial hooks and a connection's agent runtime are given by customers; a
request to one of them must not reach the machine ringcast runs on or its private
network. A host is refused when any of its addresses (not just the first) is loopback,
private, link-local or otherwise not global, unless the deployment allows it
(``RINGCAST_WEBHOOKS_ALLOW_PRIVATE``, for development and tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class AddressRefused(Exception):
    """The URL's host resolves to an address ringcast may not reach."""


def check_destination(url: str, allow_private: bool) -> None:
    """Raise ``AddressRefused`` unless every address of the URL's host may be reached.

    It resolves the name, so it blocks: run it off the event loop.
    """
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise AddressRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not allow_private and not address.is_global:
            raise AddressRefused(f"{host} resolves to {address}, which is not a public address")
