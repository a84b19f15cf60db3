"""Dependencies every surface shares: the store, the clock, the settings, the caller.

The store is seen through ``ports.SqlStoreApi``, the SQL store's whole face as a
Protocol: nothing under ``api/`` imports ``ringcast.db``. ``runtime.py`` builds the
store and ``create_app`` puts it on ``app.state``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from ringcast.api.auth import Principal, RateLimited, identify
from ringcast.api.ratelimit import Quota
from ringcast.api.surfaces import surface_of
from ringcast.clock import Clock
from ringcast.config import Settings
from ringcast.ports import SqlStoreApi


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
