"""The provider's evidence on an attempt (who picked up, the provider's own code): stored
with the call's end, read back, and carried by Sarvam's per-attempt payload."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ringcast.core import step as tick
from ringcast.core.model import Attempt
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.db.store import SqlStore
from ringcast.webhooks import payloads
from tests.integration.factories import T0, campaign, contacts, seed_account

HORIZON = timedelta(milliseconds=500)


def dialled(store: Any, n: int = 2) -> tuple[str, list[Attempt]]:
    """A campaign of ``n`` contacts, planned once: its id and the attempts in progress."""
    org, ws, agent = seed_account(store)
    c = campaign(org, ws, agent, extra={"webhook_config": {"url": "https://hooks.example"}})
    store.create_campaign(c, contacts(c.id, n))
    now = T0 + timedelta(hours=1)  # 11:00 in Paris, inside the campaign's slots
    writes = store.run_tick(
        c.id, now, HORIZON, 10, lambda snap, v: tick.decide(snap, now, HORIZON, v)
    )
    assert writes is not None and len(writes.dials) == n
    return c.id, [d.attempt for d in writes.dials]


def test_answered_by_and_provider_code_are_stored_with_the_end(store) -> None:
    """What the provider said is kept on the ended attempt; an attempt the provider said
    nothing about keeps nulls."""
    _, (machine, silent) = dialled(store)
    at = T0 + timedelta(hours=1, minutes=1)
    said = CallResult(
        machine.id,
        Outcome.VOICEMAIL,
        at,
        answered_by="machine",
        provider_code="completed/machine_end_beep",
    )
    quiet = CallResult(silent.id, Outcome.NO_ANSWER, at)
    store.end_attempts([(said, tick.finisher(said)), (quiet, tick.finisher(quiet))])
    (got,) = store.attempts_of(machine.contact_id)
    assert (got.answered_by, got.provider_code) == ("machine", "completed/machine_end_beep")
    (other,) = store.attempts_of(silent.contact_id)
    assert (other.answered_by, other.provider_code) == (None, None)


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_sarvam_payload_and_the_call_carry_the_evidence(
    request: pytest.FixtureRequest, kind: str
) -> None:
    """Sarvam's per-attempt payload and the stored call carry ``answered_by`` and
    ``provider_code``; a code longer than its column is cut, not refused."""
    store = SqlStore(request.getfixturevalue(f"{'pg' if kind == 'postgres' else kind}_engine"))
    campaign_id, (human, overlong) = dialled(store)
    at = T0 + timedelta(hours=1, minutes=2)
    code = "x" * 100
    ends = [
        CallResult(human.id, Outcome.COMPLETED, at, answered_by="human", provider_code="486"),
        CallResult(overlong.id, Outcome.FAILED, at, provider_code=code),
    ]
    store.end_attempts([(r, tick.finisher(r)) for r in ends])
    call = store.get_call(human.id)
    assert call is not None
    body = payloads.sarvam_attempt(call, store.get_campaign(campaign_id), None, None)
    assert (body["answered_by"], body["provider_code"]) == ("human", "486")
    cut = store.get_call(overlong.id)
    assert cut is not None
    assert cut.attempt.provider_code == code[:64] and cut.attempt.answered_by is None
    body = payloads.sarvam_attempt(cut, store.get_campaign(campaign_id), None, None)
    assert body["answered_by"] is None
