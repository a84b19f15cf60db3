"""The Volubile call object shows the provider's evidence: answeredBy and providerCode."""

from __future__ import annotations

from datetime import timedelta

from ringcast.core import step as tick
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from tests.api.conftest import Account
from tests.support import always_open_campaign

HORIZON = timedelta(seconds=1)


def test_the_call_object_shows_who_answered_and_the_providers_code(
    client, runtime, clock, account: Account
) -> None:
    """GET /v1/calls/{id} gives answeredBy and providerCode as the provider reported them,
    and null for both when it reported nothing."""
    store = runtime.store
    made = always_open_campaign(store, clock, ["+33612345678", "+33612345679"])
    now = clock.now()
    writes = store.run_tick(
        made.id, now, HORIZON, 10, lambda snap, v: tick.decide(snap, now, HORIZON, v)
    )
    machine, silent = (d.attempt for d in writes.dials)
    at = now + timedelta(seconds=30)
    said = CallResult(
        machine.id, Outcome.VOICEMAIL, at, answered_by="machine", provider_code="machine_start"
    )

    store.end_attempt(said, tick.finisher(said))
    quiet = CallResult(silent.id, Outcome.NO_ANSWER, at)
    store.end_attempt(quiet, tick.finisher(quiet))

    shown = client.get(f"/v1/calls/{machine.id}", headers=account.headers).json()
    assert (shown["answeredBy"], shown["providerCode"]) == ("machine", "machine_start")
    unknown = client.get(f"/v1/calls/{silent.id}", headers=account.headers).json()
    assert unknown["answeredBy"] is None and unknown["providerCode"] is None
    listed = client.get("/v1/calls", headers=account.headers).json()["content"]
    assert {c["id"]: c["answeredBy"] for c in listed} == {machine.id: "machine", silent.id: None}
