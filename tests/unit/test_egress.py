"""The private-address guard: customer URLs may not reach private or local addresses."""

from __future__ import annotations

import pytest

from ringcast.egress import AddressRefused, check_destination


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
    ],
)
def test_a_private_or_local_address_is_refused(url: str) -> None:
    """Loopback, private and link-local hosts are refused unless private ones are allowed."""
    with pytest.raises(AddressRefused, match="not a public address"):
        check_destination(url, allow_private=False)
    check_destination(url, allow_private=True)


def test_a_public_address_passes() -> None:
    """A literal public address needs no lookup and passes the guard."""
    check_destination("https://93.184.215.14/hook", allow_private=False)


def test_a_name_that_does_not_resolve_is_refused() -> None:
    """A host nobody can resolve is refused, allowed private or not."""
    with pytest.raises(AddressRefused, match="cannot resolve"):
        check_destination("http://nowhere.invalid/hook", allow_private=True)
