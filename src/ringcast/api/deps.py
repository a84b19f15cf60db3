"""Dependencies every surface shares: the store, the clock, the settings, the caller.

Every route of a surface declares what it requires of the caller with
``dependencies=[requires("campaigns:write")]``; the surfaces' routers build their routes
with ``ScopedRoute``, which refuses (when the module is imported) a route that declares
nothing, so a route cannot be added without a scope. The few public routes (health,
metrics, the API documents, the provider callbacks, which are authenticated by the
providers' signatures) are on routers of their own.

The store is seen through ``ports.SqlStoreApi``, the SQL store's whole face as a
Protocol: nothing under ``api/`` imports ``ringcast.db``. ``runtime.py`` builds the
store and ``create_app`` puts it on ``app.state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from ringcast.api.auth import ALL_SCOPES, API_KEY_ONLY, Principal, RateLimited, identify
from ringcast.api.ratelimit import Quota
from ringcast.api.surfaces import surface_of
from ringcast.clock import Clock
from ringcast.config import Settings
from ringcast.ports import SqlStoreApi
from ringcast.records import Campaign
from ringcast.services import campaigns


def get_store(request: Request) -> SqlStoreApi:
    store: SqlStoreApi = request.app.state.store
    return store


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_settings(request: Request) -> Settings:
    # read through the runtime on each request: the runtime's settings are the ones in force
    settings: Settings = request.app.state.runtime.settings
    return settings


StoreDep = Annotated[SqlStoreApi, Depends(get_store)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_principal(
    request: Request,
    store: StoreDep,
    clock: ClockDep,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """Who is calling (401 otherwise), counted against the account's rate limit on the
    surface the request came through (``api.ratelimit``; 429 past it)."""
    principal = identify(store, request.app.state.signer, x_api_key, authorization)
    limiter = request.app.state.limiter
    kind = surface_of(request.url.path)
    try:
        request.state.quota = limiter.hit(kind, principal.org_id, clock.now())
    except RateLimited:
        request.state.quota = Quota(limiter.rules[kind].limit, 0)
        raise
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
#: The same as ``PrincipalDep``: every surface is limited now (this was ``/v1``'s alone).
LimitedPrincipalDep = PrincipalDep


#: the attribute by which a ``requires`` dependency says which scope it checks
_SCOPE_ATTRIBUTE = "required_scope"


def requires(scope: str) -> Any:
    """A route's declared need: the caller's credential carries ``scope`` (one of
    ``auth.ALL_SCOPES``, or ``auth.API_KEY_ONLY``), else the surface's 403.

    Declared in the route's ``dependencies``, which FastAPI solves before the route's own
    parameters: a credential without the scope is refused before anything is said about
    the target (whether it exists, whether the body is valid).
    """
    if scope not in ALL_SCOPES and scope != API_KEY_ONLY:
        raise ValueError(f"unknown scope {scope!r}")

    def caller_with_scope(principal: PrincipalDep) -> Principal:
        principal.require(scope)
        return principal

    setattr(caller_with_scope, _SCOPE_ATTRIBUTE, scope)
    return Depends(caller_with_scope)


def declared_scopes(dependant: Dependant) -> set[str]:
    """The scopes a route's dependencies (at any depth) declare through ``requires``."""
    found: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        call: Callable[..., Any] | None = current.call
        scope = getattr(call, _SCOPE_ATTRIBUTE, None)
        if isinstance(scope, str):
            found.add(scope)
        pending.extend(current.dependencies)
    return found


class ScopedRoute(APIRoute):
    """A route that must declare its scope with ``requires``; one that does not is refused
    when it is added (``APIRouter(route_class=ScopedRoute)``)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if not declared_scopes(self.dependant):
            raise TypeError(
                f"{sorted(self.methods or ())} {path} declares no scope: "
                "add dependencies=[requires(...)]"
            )


def get_workspace_campaign(campaign_id: str, principal: PrincipalDep, store: StoreDep) -> Campaign:
    """The path's campaign, if it is in the caller's organization and workspace (the
    native surface scopes by workspace as the Sarvam paths do); another organization's or
    workspace's campaign answers exactly like an id that does not exist.

    Resolved as a dependency, before the body is read: whether the id is someone else's
    or nobody's, the answer is the same 404 whatever the body says."""
    return campaigns.get(store, campaign_id, principal.org_id, principal.workspace_id)


WorkspaceCampaignDep = Annotated[Campaign, Depends(get_workspace_campaign)]
