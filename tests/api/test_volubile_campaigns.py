"""Volubile campaigns: every validation rule of the seed, the status transitions, tenancy."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import sqlalchemy as sa

from .conftest import Account
from .test_sarvam_campaigns import base
from .test_sarvam_campaigns import body as sarvam_body
from .test_sarvam_campaigns import create as sarvam_create

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def valid_body(agent_id: str) -> dict[str, Any]:
    return {
        "name": "Spring reminders",
        "agentId": agent_id,
        "startDate": "2026-06-01",
        "timeSlots": [{"startTime": "09:00", "endTime": "15:00"}],
        "batchSize": 50,
        "days": ["MONDAY", "TUESDAY"],
        "recipients": [
            {"phone": "+33612345678", "context": {"firstName": "Ada", "orderNumber": "5HZ"}},
            {"phone": "+33612345679"},
        ],
        "timezone": "Europe/Paris",
        "retry": {"max": 2, "delay": 3, "retryOn": ["NO_ANSWER", "callback_requested"]},
    }


def campaign_count(runtime) -> int:
    with runtime.engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from campaigns")).scalar_one()


def test_create_then_get(client, account: Account) -> None:
    """A valid campaign is created (201), reads back the same, and starts ACTIVE."""
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "ACTIVE"
    assert created["timeSlots"] == [{"startTime": "09:00", "endTime": "15:00"}]
    assert created["retry"] == {
        "max": 2,
        "delay": 3,
        "retryOn": ["NO_ANSWER", "callback_requested"],
    }
    assert created["days"] == ["MONDAY", "TUESDAY"] and created["batchSize"] == 50
    assert created["timezone"] == "Europe/Paris" and created["startDate"] == "2026-06-01"
    got = client.get(f"/v1/campaigns/{created['id']}", headers=account.headers)
    assert got.status_code == 200 and got.json() == created


def test_slots_are_clipped_to_legal_hours(client, runtime, account: Account) -> None:
    """09:00-15:00 calls only 10:00-13:00 and 14:00-15:00, in the campaign's zone."""
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    campaign = runtime.store.get_campaign(r.json()["id"])
    slots = [str(s) for s in campaign.config.schedule.weekly.slots]
    assert slots == ["10:00-13:00", "14:00-15:00"]
    assert campaign.config.schedule.weekly.zone == "Europe/Paris"
    assert campaign.config.pacing.calls_per_day == 50


def test_timezone_defaults_to_paris(client, account: Account) -> None:
    """Without a timezone the campaign runs on Paris time."""
    body = valid_body(account.agent_id)
    del body["timezone"]
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201 and r.json()["timezone"] == "Europe/Paris"


def _drop(key: str):
    def f(b: dict[str, Any]) -> None:
        del b[key]

    return f


def _set(path: str, value: Any):
    def f(b: dict[str, Any]) -> None:
        target: Any = b
        parts = path.split(".")
        for p in parts[:-1]:
            target = target[int(p)] if p.isdigit() else target[p]
        last = parts[-1]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return f


CASES = [
    ("name missing", _drop("name"), "name", None),
    ("name blank", _set("name", "   "), "name", "   "),
    ("agentId missing", _drop("agentId"), "agentId", None),
    (
        "agentId unknown",
        _set("agentId", "8d5e7b6c-0000-4000-8000-000000000000"),
        "agentId",
        "8d5e7b6c-0000-4000-8000-000000000000",
    ),
    ("startDate missing", _drop("startDate"), "startDate", None),
    ("startDate not a date", _set("startDate", "2026-02-30"), "startDate", "2026-02-30"),
    ("timeSlots missing", _drop("timeSlots"), "timeSlots", None),
    ("timeSlots empty", _set("timeSlots", []), "timeSlots", []),
    (
        "three slots",
        _set("timeSlots", [{"startTime": "10:00", "endTime": "11:00"}] * 3),
        "timeSlots",
        None,
    ),
    ("bad start time", _set("timeSlots.0.startTime", "25:00"), "timeSlots[0].startTime", "25:00"),
    ("bad end format", _set("timeSlots.0.endTime", "3pm"), "timeSlots[0].endTime", "3pm"),
    (
        "end before start",
        _set("timeSlots.0", {"startTime": "12:00", "endTime": "11:00"}),
        "timeSlots[0].endTime",
        "11:00",
    ),
    (
        "slot outside legal hours",
        _set("timeSlots.0", {"startTime": "07:00", "endTime": "09:30"}),
        "timeSlots[0]",
        {"startTime": "07:00", "endTime": "09:30"},
    ),
    (
        "slot in the lunch gap",
        _set("timeSlots.0", {"startTime": "13:00", "endTime": "14:00"}),
        "timeSlots[0]",
        None,
    ),
    ("batchSize missing", _drop("batchSize"), "batchSize", None),
    ("batchSize zero", _set("batchSize", 0), "batchSize", 0),
    ("batchSize too big", _set("batchSize", 1001), "batchSize", 1001),
    ("batchSize not a number", _set("batchSize", "many"), "batchSize", "many"),
    ("days missing", _drop("days"), "days", None),
    ("days empty", _set("days", []), "days", []),
    ("unknown day", _set("days", ["MONDAY", "FUNDAY"]), "days[1]", "FUNDAY"),
    ("recipients empty", _set("recipients", []), "recipients", []),
    (
        "too many recipients",
        _set("recipients", [{"phone": f"+336{i:08d}"} for i in range(1001)]),
        "recipients",
        None,
    ),
    (
        "phone not E.164",
        _set("recipients.1.phone", "0612345678"),
        "recipients[1].phone",
        "0612345678",
    ),
    ("phone invalid", _set("recipients.0.phone", "+3361234"), "recipients[0].phone", "+3361234"),
    ("phone missing", _set("recipients.0", {"context": {}}), "recipients[0].phone", None),
    ("context not an object", _set("recipients.0.context", "x"), "recipients[0].context", "x"),
    (
        "duplicate phone",
        _set("recipients.1.phone", "+33612345678"),
        "recipients[1].phone",
        "+33612345678",
    ),
    ("retry max too big", _set("retry.max", 4), "retry.max", 4),
    ("retry max negative", _set("retry.max", -1), "retry.max", -1),
    (
        "retry delay missing",
        _set("retry", {"max": 1, "retryOn": ["NO_ANSWER"]}),
        "retry.delay",
        None,
    ),
    ("retry delay zero", _set("retry.delay", 0), "retry.delay", 0),
    ("retryOn empty", _set("retry.retryOn", []), "retry.retryOn", []),
    ("timezone unknown", _set("timezone", "Mars/Olympus_Mons"), "timezone", "Mars/Olympus_Mons"),
]


@pytest.mark.parametrize(("case", "mutate", "field", "rejected"), CASES, ids=[c[0] for c in CASES])
def test_each_validation_rule_is_a_400_naming_the_field(
    client, runtime, account: Account, case, mutate, field, rejected
) -> None:
    """Each broken rule answers 400 ErrorResponse naming the field and value; nothing is stored."""
    body = copy.deepcopy(valid_body(account.agent_id))
    mutate(body)
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 400, r.text
    err = r.json()
    assert TIMESTAMP.match(err["timestamp"]) and err["status"] == 400 and err["message"]
    fields = {e["field"]: e for e in err["errors"]}
    assert field in fields, err
    if rejected is not None:
        assert fields[field]["rejectedValue"] == rejected
    assert fields[field]["message"]
    assert campaign_count(runtime) == 0


def test_retry_fields_ignored_when_max_is_zero(client, account: Account) -> None:
    """delay and retryOn only matter when max > 0."""
    body = valid_body(account.agent_id)
    body["retry"] = {"max": 0, "delay": 0, "retryOn": []}
    assert client.post("/v1/campaigns", json=body, headers=account.headers).status_code == 201


def test_agent_must_be_an_active_outbound_agent_of_the_account(
    client, account: Account, other_account: Account, inbound_agent: str
) -> None:
    """Inbound, inactive and other accounts' agents are refused on agentId."""
    for agent_id in (inbound_agent, other_account.agent_id):
        body = valid_body(agent_id)
        r = client.post("/v1/campaigns", json=body, headers=account.headers)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "agentId"
    client.patch(f"/v1/agents/{account.agent_id}", json={"active": False}, headers=account.headers)
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    assert r.status_code == 400 and "not active" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"name": "x",', "application/json"),
        (b"not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"", "application/json"),
        (b"name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_400_never_422_or_500(
    client, account: Account, raw: bytes, content_type: str
) -> None:
    """Malformed JSON, the wrong JSON type and a non-JSON body are all 400 ErrorResponse."""
    r = client.post(
        "/v1/campaigns", content=raw, headers={**account.headers, "Content-Type": content_type}
    )
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400 and "errors" in r.json()


def make_campaign(client, account: Account) -> str:
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    assert r.status_code == 201
    return r.json()["id"]


def set_status(client, account: Account, cid: str, status: str):
    return client.post(f"/v1/campaigns/{cid}/status", json=status, headers=account.headers)


def test_status_transitions(client, runtime, account: Account) -> None:
    """ACTIVE -> PAUSED -> ACTIVE -> CANCELLED, then nothing more; repeating the current
    status, CANCELLED included, is a 200 that changes nothing."""
    cid = make_campaign(client, account)
    assert set_status(client, account, cid, "ACTIVE").json()["status"] == "ACTIVE"  # no-op
    r = set_status(client, account, cid, "PAUSED")
    assert r.status_code == 200 and r.json()["status"] == "PAUSED"
    assert set_status(client, account, cid, "PAUSED").json()["status"] == "PAUSED"  # no-op
    r = set_status(client, account, cid, "ACTIVE")
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE"
    assert runtime.store.get_campaign(cid).config.status.value == "scheduled"
    r = set_status(client, account, cid, "CANCELLED")
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    assert {s.value: n for s, n in runtime.store.count_contacts(cid).items()} == {"cancelled": 2}
    r = set_status(client, account, cid, "CANCELLED")  # no-op
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    for target in ("ACTIVE", "PAUSED"):
        r = set_status(client, account, cid, target)
        assert r.status_code == 400
        assert "CANCELLED" in r.json()["message"]


def test_cancel_cancels_waiting_contacts(client, runtime, account: Account) -> None:
    """Cancelling a campaign cancels every contact still waiting."""
    cid = make_campaign(client, account)
    set_status(client, account, cid, "CANCELLED")
    assert {s.value: n for s, n in runtime.store.count_contacts(cid).items()} == {"cancelled": 2}


@pytest.mark.parametrize("body", ['"DONE"', '"active"', '{"status": "PAUSED"}', "42", "nope"])
def test_status_body_must_be_a_known_bare_string(client, account: Account, body: str) -> None:
    """Only the bare strings ACTIVE, PAUSED and CANCELLED are accepted."""
    cid = make_campaign(client, account)
    r = client.post(
        f"/v1/campaigns/{cid}/status",
        content=body.encode(),
        headers={**account.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["status"] == 400


def test_other_accounts_ids_read_as_missing(
    client, account: Account, other_account: Account
) -> None:
    """Another account's campaign is a 404 with the same body as an id that does not exist."""
    cid = make_campaign(client, account)
    theirs = client.get(f"/v1/campaigns/{cid}", headers=other_account.headers)
    missing = client.get(
        "/v1/campaigns/00000000-0000-4000-8000-000000000000", headers=other_account.headers
    )
    assert theirs.status_code == missing.status_code == 404
    strip = lambda b: {k: v for k, v in b.items() if k != "timestamp"}  # noqa: E731
    assert strip(theirs.json()) == strip(missing.json())
    assert set_status(client, other_account, cid, "PAUSED").status_code == 404
    agent = client.get(f"/v1/agents/{account.agent_id}", headers=other_account.headers)
    assert agent.status_code == 404
    assert (
        client.patch(
            f"/v1/agents/{account.agent_id}", json={"name": "x"}, headers=other_account.headers
        ).status_code
        == 404
    )


def test_one_live_campaign_limit_for_both_surfaces(client, account: Account, clock) -> None:
    """Volubile creates count against the workspace's live-campaign limit exactly as
    Sarvam's do: the eleventh scheduled-or-active campaign is a 409 whichever surface
    makes it, and a paused Volubile campaign resumes only when there is room."""
    made = [make_campaign(client, account) for _ in range(5)]
    for _ in range(5):
        sarvam_create(client, account, clock)
    r = client.post("/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers)
    assert r.status_code == 409
    assert r.json()["status"] == 409 and "10" in r.json()["message"]
    sarvam = client.post(
        f"{base(account)}/campaigns",
        json=sarvam_body(account, clock),
        headers=account.headers,
    )
    assert sarvam.status_code == 409
    assert set_status(client, account, made[0], "PAUSED").status_code == 200
    assert (
        client.post(
            "/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers
        ).status_code
        == 201
    )
    r = set_status(client, account, made[0], "ACTIVE")
    assert r.status_code == 409
    assert set_status(client, account, made[0], "PAUSED").status_code == 200  # still paused
