"""Tenancy: another organization's or workspace's ids answer exactly like unknown ids.

The routes are read from the app, so a route added later is covered (or the test says
which id it cannot fill). Each id in a route's path is filled with a real object another
tenant made (an organization of its own, or another workspace of the caller's
organization), and the answer must equal, byte for byte, the answer to the same request
with random ids nobody has; that answer must itself be a 404, so the comparison is never
between two validation errors.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from ringcast.dispatch.loop import Dispatcher
from ringcast.services import accounts

from .conftest import Account
from .routes_support import PUBLIC_PATHS, Route, api_routes
from .test_sarvam_campaigns import base, body, create
from .test_sarvam_cohorts import MAPPING, csv_bytes

SARVAM_PREFIX_IDS = ("org_id", "workspace_id")
#: ids whose objects belong to an organization, not to a workspace: another workspace of
#: the caller's organization has none of its own (its agents are the caller's)
ORG_LEVEL_KINDS = {"agent", "call", "connection", "do-not-call"}
#: routes that name an id without looking anything up, and where that is checked instead
NOT_LOOKUPS = {
    "PUT /ringcast/v1/connections/{connection_id}": "registers the caller's own "
    "connection under that id: test_registering_another_tenants_connection_id",
}
#: a body each write route would accept for the caller's own ids, so that what is
#: compared is the lookup, not a validation error
VALID = "+919876543299"
BODIES: dict[str, dict[str, Any]] = {
    "POST /v1/campaigns/{id}/status": {"json": "PAUSED"},
    "PATCH /v1/agents/{id}": {"json": {"name": "Renamed"}},
    "PATCH {sarvam}/campaigns/{campaign_id}": {"json": {"name": "Renamed"}},
    "PUT {sarvam}/campaigns/{campaign_id}/status": {"json": {"action": "pause"}},
    "POST {sarvam}/campaigns/{campaign_id}/cohorts/stream": {
        "json": {"name": "more", "users": [{"user_phone_number": VALID}]}
    },
    "POST {sarvam}/campaigns/{campaign_id}/cohorts/upload": {
        "data": {"name": "more"},
        "files": {
            "cohort_file": ("p.csv", csv_bytes([[VALID, "c9", "A", "1", "hi"]]), "text/csv"),
            "cohort_transformation_file": ("m.json", json.dumps(MAPPING).encode()),
        },
    },
    "POST {sarvam}/campaigns/{campaign_id}/webhooks/retry": {
        "json": {"attempt_ids": [str(uuid.uuid4())]}
    },
    "POST /ringcast/v1/campaigns/{campaign_id}/forecast": {"json": {}},
    "PUT /ringcast/v1/campaigns/{campaign_id}/compliance": {"json": {"policy": "fr"}},
    "PUT /ringcast/v1/campaigns/{campaign_id}/voicemail": {
        "json": {"action": "hangup", "retry_on_voicemail": False, "retry_on_rejected": False}
    },
    "PATCH /ringcast/v1/contacts/{contact_id}": {"json": {"timezone": "Europe/Paris"}},
}
SARVAM = "/api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}"


@dataclass
class Tenant:
    """Someone else, and the objects it made, by kind."""

    name: str
    account: Account
    ids: dict[str, str] = field(default_factory=dict)


def _kind(route: Route, name: str) -> str:
    """What an id in the path names, from its name or, for Volubile's ``{id}``, the
    collection before it."""
    if name == "id":
        collection = route.path.split("/{id}")[0].rsplit("/", 1)[-1]
        return {"campaigns": "campaign", "agents": "agent", "calls": "call"}[collection]
    return {
        "campaign_id": "campaign",
        "cohort_id": "cohort",
        "contact_id": "contact",
        "connection_id": "connection",
        "phone": "do-not-call",
        "org_id": "org",
        "workspace_id": "workspace",
    }[name]


def _unknown(kind: str) -> str:
    if kind == "do-not-call":
        return f"+3361{uuid.uuid4().int % 10**7:07d}"
    if kind == "connection":
        return f"conn-{uuid.uuid4().hex[:8]}"
    return str(uuid.uuid4())


def _fill(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name in route.path_ids:
        path = path.replace("{" + name + "}", values[name])
    return path


def _request(client, route: Route, path: str, headers: dict[str, str]) -> Any:
    key = f"{route.method} {route.path}".replace(SARVAM, "{sarvam}")
    extra = BODIES.get(key, {})
    return client.request(route.method, path, headers=headers, **extra)


def _make_objects(client, runtime, clock, tenant: Tenant) -> None:
    """A Sarvam campaign with a cohort and a contact in the tenant's workspace; for another
    organization also its agent, a dialled call, a connection and a do-not-call entry."""
    a = tenant.account
    campaign = create(client, a, clock)["campaign_id"]
    stream = client.post(
        f"{base(a)}/campaigns/{campaign}/cohorts/stream",
        json={"name": "theirs", "users": [{"user_phone_number": "+919876543210"}]},
        headers=a.headers,
    )
    assert stream.status_code == 202, stream.text
    contacts = client.get(f"/ringcast/v1/campaigns/{campaign}/contacts", headers=a.headers)
    assert contacts.status_code == 200, contacts.text
    tenant.ids.update(
        org=a.org_id,
        workspace=a.workspace_id,
        campaign=campaign,
        cohort=stream.json()["cohort_id"],
        contact=contacts.json()["items"][0]["id"],
    )
    if tenant.name != "other organization":
        return
    call = client.post(
        "/v1/calls",
        json={"agentId": a.agent_id, "recipient": {"phone": "+33612345678"}},
        headers=a.headers,
    )
    assert call.status_code == 201, call.text
    # dialled (no gateway: the attempt is recorded, nothing is placed), so the call is a
    # real call record with an attempt id of its own
    asyncio.run(Dispatcher(runtime.store, clock).step())
    (attempt,) = runtime.store.attempts_of(call.json()["id"])
    connection = client.put("/ringcast/v1/connections/shared-name", json={}, headers=a.headers)
    assert connection.status_code == 201, connection.text
    listed = client.post(
        "/ringcast/v1/do-not-call", json={"phones": ["+33612345670"]}, headers=a.headers
    )
    assert listed.status_code == 200, listed.text
    tenant.ids.update(
        agent=a.agent_id,
        call=attempt.id,
        connection="shared-name",
        **{"do-not-call": "+33612345670"},
    )


@pytest.fixture
def tenants(client, runtime, clock, account: Account, other_account: Account) -> list[Tenant]:
    sales = accounts.issue_key(runtime.store, clock, "acme", "sales")
    other_workspace = Account(
        account.org_id, sales.workspace.id, sales.plaintext, sales.key.prefix, account.agent_id
    )
    made = [Tenant("other organization", other_account), Tenant("other workspace", other_workspace)]
    for tenant in made:
        _make_objects(client, runtime, clock, tenant)
    return made


def _id_routes(app) -> list[Route]:
    return [
        r
        for r in api_routes(app)
        if r.path_ids and r.path not in PUBLIC_PATHS and str(r) not in NOT_LOOKUPS
    ]


def _walk(client, app, account: Account, tenants: list[Tenant]) -> int:
    """Send every id-bearing route at each tenant's ids and at unknown ids; compare."""
    routes = _id_routes(app)
    assert {r.surface for r in routes} == {"volubile", "sarvam", "native"}
    own_prefix = {"org_id": account.org_id, "workspace_id": account.workspace_id}
    compared = 0
    for route in routes:
        kinds = {name: _kind(route, name) for name in route.path_ids}
        objects = [n for n in route.path_ids if n not in SARVAM_PREFIX_IDS]
        for tenant in tenants:
            if tenant.name == "other workspace" and ORG_LEVEL_KINDS & {kinds[n] for n in objects}:
                continue
            cases = []
            if objects:  # the caller's own path, the other tenant's objects in it
                theirs = {n: tenant.ids[kinds[n]] for n in objects}
                nobodys = {n: _unknown(kinds[n]) for n in objects}
                cases.append(({**own_prefix, **theirs}, {**own_prefix, **nobodys}))
            if set(SARVAM_PREFIX_IDS) <= set(route.path_ids):  # the tenant's whole path
                theirs = {n: tenant.ids[kinds[n]] for n in route.path_ids}
                nobodys = {n: _unknown(kinds[n]) for n in route.path_ids}
                cases.append((theirs, nobodys))
            for their_ids, unknown_ids in cases:
                foreign = _request(client, route, _fill(route, their_ids), account.headers)
                unknown = _request(client, route, _fill(route, unknown_ids), account.headers)
                where = f"{route} with {tenant.name}'s ids"
                assert unknown.status_code == 404, f"{where}: unknown ids got {unknown.text}"
                assert foreign.status_code == unknown.status_code, f"{where}: {foreign.text}"
                assert foreign.content == unknown.content, where
                compared += 1
    return compared


def _snapshot(client, tenant: Tenant) -> list[Any]:
    """What the tenant itself reads of its objects."""
    a, ids = tenant.account, tenant.ids
    campaign = f"{base(a)}/campaigns/{ids['campaign']}"
    native = f"/ringcast/v1/campaigns/{ids['campaign']}"
    reads = [
        campaign,
        f"{campaign}/cohorts",
        f"{native}/contacts",
        f"{native}/compliance",
        f"{native}/voicemail",
    ]
    if "agent" in ids:
        reads += [
            f"/v1/agents/{ids['agent']}",
            f"/v1/calls/{ids['call']}",
            f"/ringcast/v1/connections/{ids['connection']}",
            f"/ringcast/v1/do-not-call/{ids['do-not-call']}",
        ]
    answers = [client.get(url, headers=a.headers) for url in reads]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    return [r.json() for r in answers]


def test_every_route_with_an_id_answers_another_tenants_id_like_an_unknown_one(
    client, app, account: Account, tenants: list[Tenant]
) -> None:
    """For every route with an id in its path, on every surface: the ids of another
    organization's and of another workspace's real objects get the same status and the
    same bytes as random ids nobody has (a 404), and the other tenants' objects read
    exactly as before."""
    before = [_snapshot(client, t) for t in tenants]
    compared = _walk(client, app, account, tenants)
    assert compared >= 2 * len(_id_routes(app)) - 8  # every route, most for both tenants
    assert [_snapshot(client, t) for t in tenants] == before


def _without(text: bytes, value: str) -> bytes:
    """The answer with the id the client sent blanked: an error may echo what it was sent."""
    return text.replace(value.encode(), b"<id>")


def test_an_agent_version_check_does_not_tell_another_tenants_agent_from_an_unknown_one(
    client, clock, account: Account, other_account: Account
) -> None:
    """Naming another organization's agent, with a version it lacks, when creating or
    changing a Sarvam campaign reads exactly like naming an agent id nobody has (before,
    the first said "the agent has no version 99", the second "no agent with this id")."""
    at = f"{base(account)}/campaigns"
    mine = create(client, account, clock)["campaign_id"]
    unknown_agent = str(uuid.uuid4())
    for version in (1, 99):
        answers = []
        for agent in (other_account.agent_id, unknown_agent):
            app = {**body(account, clock)["app_config"], "app_id": agent, "app_version": version}
            made = client.post(
                at, json=body(account, clock, app_config=app), headers=account.headers
            )
            changed = client.patch(
                f"{at}/{mine}",
                json={"app_config": {"app_id": agent, "app_version": version}},
                headers=account.headers,
            )
            answers.append([(r.status_code, _without(r.content, agent)) for r in (made, changed)])
        assert answers[0] == answers[1], f"app_version {version}"
        assert [status for status, _ in answers[0]] == [422, 422]
        assert b"no agent with this id" in answers[0][0][1]


def test_registering_another_tenants_connection_id(
    client, account: Account, other_account: Account
) -> None:
    """Connection ids are the customers' own: registering one another organization uses
    makes the caller's own connection (201, as for an unused id), and the other
    organization's connection is untouched."""
    theirs = client.put(
        "/ringcast/v1/connections/shared-name",
        json={"caller_numbers": ["+33612345678"]},
        headers=other_account.headers,
    )
    assert theirs.status_code == 201
    mine = client.put("/ringcast/v1/connections/shared-name", json={}, headers=account.headers)
    fresh = client.put("/ringcast/v1/connections/unused-name", json={}, headers=account.headers)
    assert mine.status_code == fresh.status_code == 201
    assert _without(mine.content, "shared-name") == _without(fresh.content, "unused-name")
    again = client.get("/ringcast/v1/connections/shared-name", headers=other_account.headers)
    assert again.json() == theirs.json()
