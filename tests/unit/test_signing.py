"""Standard Webhooks signing, checked against the reference ``standardwebhooks`` package."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks

from ringcast import signing

AT = datetime(2026, 6, 1, 9, 30, 12, 750_000, tzinfo=UTC)
BODY = b'{"attempt_id":"a1","event":"completed"}'


def test_a_new_secret_is_a_whsec_key_the_reference_accepts() -> None:
    """A new secret has the ``whsec_`` prefix and decodes to 32 bytes for the reference."""
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert secret != signing.new_secret()
    standardwebhooks.Webhook(secret)  # raises on a secret it cannot decode


def test_our_signature_is_the_references() -> None:
    """``sign`` gives, byte for byte, the signature the reference computes."""
    secret = signing.new_secret()
    ours = signing.sign(secret, "msg-1", int(AT.timestamp()), BODY)
    theirs = standardwebhooks.Webhook(secret).sign("msg-1", AT, BODY.decode())
    assert ours == theirs


def test_headers_we_send_pass_the_reference_verifier() -> None:
    """Headers stamped with the wall clock pass the reference verifier, which reads its own."""
    secret = signing.new_secret()
    sent = signing.headers("msg-2", BODY, secret, signing.wall_clock())
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert standardwebhooks.Webhook(secret).verify(BODY, sent) == {
        "attempt_id": "a1",
        "event": "completed",
    }


def test_we_accept_what_the_reference_signs() -> None:
    """A message signed by the reference verifies, also among several offered signatures."""
    secret = signing.new_secret()
    stamp = int(AT.timestamp())
    received = {
        "webhook-id": "msg-3",
        "webhook-timestamp": str(stamp),
        "webhook-signature": "v1,bm90IGl0 "
        + standardwebhooks.Webhook(secret).sign("msg-3", AT, BODY.decode()),
    }
    assert signing.verify(secret, received, BODY, AT)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda h, b: (h, b + b" "), "body changed"),
        (lambda h, b: ({**h, "webhook-id": "other"}, b), "id changed"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), "no id"),
        (lambda h, b: ({**h, "webhook-timestamp": "soon"}, b), "stamp not a number"),
        (lambda h, b: ({**h, "webhook-signature": ""}, b), "no signature"),
    ],
)
def test_a_tampered_message_is_refused(change, why: str) -> None:
    """Any change to the body, id, stamp or signature makes ``verify`` say no."""
    secret = signing.new_secret()
    received, body = change(signing.headers("msg-4", BODY, secret, AT), BODY)
    assert not signing.verify(secret, received, body, AT), why


def test_a_stamp_outside_the_tolerance_is_refused() -> None:
    """A stamp more than five minutes away from the receiver's clock is refused, either way."""
    secret = signing.new_secret()
    sent = signing.headers("msg-5", BODY, secret, AT)
    assert signing.verify(secret, sent, BODY, AT + timedelta(minutes=5))
    assert not signing.verify(secret, sent, BODY, AT + timedelta(minutes=5, seconds=1))
    assert not signing.verify(secret, sent, BODY, AT - timedelta(minutes=5, seconds=1))
    assert not signing.verify(signing.new_secret(), sent, BODY, AT)  # another secret
