"""The deployment's own gateway settings are checked when the process starts, with the
same rules as a connection's: a secret that cannot sign, or a simulated call no calendar
holds, stops the process at once instead of failing every dial."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ringcast import signing
from ringcast.config import Settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("http_gateway_secret", "whsec_this is not base64!"),
        ("http_gateway_secret", "c2hvcnQ="),  # base64, but 8 characters
        ("simulator_talk_s", 1e300),
        ("simulator_ring_s", float("inf")),
        ("simulator_seed", 2**64),
        ("simulator_outcomes", "answered=nan"),
        ("call_lease_s", 1e300),
    ],
)
def test_a_setting_that_would_fail_every_dial_is_refused_at_start(field, value) -> None:
    """Each such setting is a ``ValidationError`` naming it."""
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


def test_a_standard_webhooks_secret_is_accepted_and_signs() -> None:
    """A fresh ``whsec_`` secret is accepted, and signs."""
    secret = signing.new_secret()
    assert Settings(http_gateway_secret=secret).http_gateway_secret == secret
    assert signing.sign(secret, "m", 0, b"{}").startswith("v1,")


def test_a_stored_secret_that_is_not_base64_verifies_nothing() -> None:
    """A report checked against a secret stored before secrets were checked is simply
    not genuine: no exception reaches the callback route."""
    now = signing.wall_clock()
    stamp = str(int(now.timestamp()))  # a fresh stamp: the signature itself is checked
    headers = {"webhook-id": "m", "webhook-timestamp": stamp, "webhook-signature": "v1,x"}
    assert signing.verify("not base64!", headers, b"{}", now) is False
