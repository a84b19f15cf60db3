"""Every route declares the scope it needs, and a credential without it gets a 403."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi import APIRouter

from ringcast.api.auth import ALL_SCOPES, API_KEY_ONLY
from ringcast.api.deps import ScopedRoute, requires

from .conftest import Account
from .routes_support import PUBLIC_PATHS, Route, api_routes
from .test_sarvam_campaigns import base, create
from .test_sarvam_cohorts import MAPPING, csv_bytes, upload
from .test_volubile_auth import bearer, token


def _fill(route: Route, account: Account) -> str:
    """The route's path with the caller's own organization and workspace, other ids random."""
    own = {"org_id": account.org_id, "workspace_id": account.workspace_id}
    path = route.path
    for name in route.path_ids:
        path = path.replace("{" + name + "}", own.get(name, str(uuid.uuid4())))
    return path


def _send(client, route: Route, account: Account, headers: dict[str, str]) -> Any:
    body: dict[str, Any] = {"json": {}} if route.method in ("POST", "PUT", "PATCH") else {}
    return client.request(route.method, _fill(route, account), headers=headers, **body)


def test_every_route_declares_one_scope_or_is_on_the_public_list(app) -> None:
    """Walking the whole app: each route declares exactly one scope, except the short list
    of public ones, which declare none; the list names only routes that exist."""
    routes = list(api_routes(app))
    assert len(routes) > 30  # the walk sees into the included routers
    undeclared = [str(r) for r in routes if not r.scopes and r.path not in PUBLIC_PATHS]
    assert undeclared == [], "routes without a declared scope"
    several = [str(r) for r in routes if len(r.scopes) > 1]
    assert several == []
    known = ALL_SCOPES | {API_KEY_ONLY}
    assert all(r.scopes <= known for r in routes)
    public = {r.path for r in routes if r.path in PUBLIC_PATHS}
    assert public == set(PUBLIC_PATHS), "a public path that no longer exists"
    assert all(not r.scopes for r in routes if r.path in PUBLIC_PATHS)


def test_a_route_without_a_scope_cannot_be_added() -> None:
    """A surface's router refuses a route that declares no scope, as soon as it is added."""
    router = APIRouter(route_class=ScopedRoute)

    with pytest.raises(TypeError, match="declares no scope"):

        @router.get("/anything")
        def anything() -> None: ...

    @router.get("/declared", dependencies=[requires("campaigns:read")])
    def declared() -> None: ...

    with pytest.raises(ValueError, match="unknown scope"):
        requires("campaigns:delete")


def _assert_surface_403(route: Route, response: Any, scope: str) -> None:
    assert response.status_code == 403, f"{route}: {response.status_code} {response.text}"
    body = response.json()
    if route.surface == "volubile":
        assert set(body) == {"timestamp", "status", "message"} and body["status"] == 403
        message = body["message"]
    else:
        assert set(body) == {"detail"} and isinstance(body["detail"], str)
        message = body["detail"]
    assert (scope if scope != API_KEY_ONLY else "API key") in message, f"{route}: {message}"


def test_a_token_without_the_scope_gets_the_surfaces_403_on_every_route(
    client, app, account: Account
) -> None:
    """On every scoped route of every surface, a bearer token carrying every scope but the
    route's own is refused with a 403 in that surface's error shape, whatever the path names
    and the body holds; one carrying only that scope gets past the check."""
    routes = [r for r in api_routes(app) if r.scopes]
    assert {r.surface for r in routes} == {"volubile", "sarvam", "native"}
    all_but = {s: bearer(token(client, account, sorted(ALL_SCOPES - {s}))) for s in ALL_SCOPES}
    only = {s: bearer(token(client, account, [s])) for s in ALL_SCOPES}
    every = bearer(token(client, account, sorted(ALL_SCOPES)))
    for route in routes:
        (scope,) = route.scopes
        if scope == API_KEY_ONLY:
            _assert_surface_403(route, _send(client, route, account, every), scope)
            allowed = _send(client, route, account, account.headers)
        else:
            _assert_surface_403(route, _send(client, route, account, all_but[scope]), scope)
            allowed = _send(client, route, account, only[scope])
        assert allowed.status_code != 403, f"{route}: {allowed.text}"


def test_a_calls_read_token_cannot_run_campaigns_through_sarvam(
    client, runtime, clock, account: Account
) -> None:
    """The reported hole: a calls:read token could create, cancel and fill Sarvam campaigns
    and download an uploaded contacts file. Each is a 403, and nothing changes."""
    campaign = create(client, account, clock)["campaign_id"]
    uploaded = upload(
        client, account, campaign, csv_bytes([["+919876543210", "c1", "A", "1", "hi"]])
    )
    assert uploaded.status_code == 202, uploaded.text
    cohort = uploaded.json()["cohort_id"]
    reader = bearer(token(client, account, ["calls:read"]))
    at = f"{base(account)}/campaigns"
    users = {"name": "s", "users": [{"user_phone_number": "+919876543211"}]}
    attempts = [
        client.post(at, json={}, headers=reader),
        client.put(f"{at}/{campaign}/status", json={"action": "cancel"}, headers=reader),
        client.post(f"{at}/{campaign}/cohorts/stream", json=users, headers=reader),
        client.post(
            f"{at}/{campaign}/cohorts/upload",
            data={"name": "again"},
            files={
                "cohort_file": ("p.csv", csv_bytes([["+919876543212", "c2", "B", "2", "hi"]])),
                "cohort_transformation_file": ("m.json", json.dumps(MAPPING).encode()),
            },
            headers=reader,
        ),
        client.get(f"{at}/{campaign}/cohorts/{cohort}/files", headers=reader),
    ]
    for r in attempts:
        assert r.status_code == 403, r.text
        assert r.json() == {"detail": r.json()["detail"]} and "campaigns:" in r.json()["detail"]
    assert client.get(f"{at}/{campaign}", headers=account.headers).json()["status"] == "scheduled"
    assert len(runtime.store.list_cohorts(campaign)) == 1
    assert client.get(at, headers=account.headers).json()["total"] == 1


def test_a_calls_read_token_cannot_change_native_settings(client, clock, account: Account) -> None:
    """The native surface checks scopes too: a calls:read token neither reads a campaign's
    contacts nor changes its calling policy, a contact, the do-not-call list or a connection."""
    campaign = create(client, account, clock)["campaign_id"]
    reader = bearer(token(client, account, ["calls:read"]))
    native = "/ringcast/v1"
    attempts = [
        client.get(f"{native}/campaigns/{campaign}/contacts", headers=reader),
        client.put(
            f"{native}/campaigns/{campaign}/compliance", json={"policy": "fr"}, headers=reader
        ),
        client.patch(f"{native}/contacts/{uuid.uuid4()}", json={"timezone": None}, headers=reader),
        client.post(f"{native}/do-not-call", json={"phones": ["+33612345678"]}, headers=reader),
        client.put(f"{native}/connections/c1", json={}, headers=reader),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    compliance = client.get(f"{native}/campaigns/{campaign}/compliance", headers=account.headers)
    assert compliance.json()["policy"] is None
    assert client.get(f"{native}/do-not-call", headers=account.headers).json()["total"] == 0
