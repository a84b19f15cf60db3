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
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """Who is calling (401 otherwise)."""
    return identify(store, request.app.state.signer, x_api_key, authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_limited_principal(request: Request, principal: PrincipalDep, clock: ClockDep) -> Principal:
    """Who is calling, counted against the account's rate limit (Volubile's 100 per 15 s)."""
    limiter = request.app.state.limiter
    try:
        request.state.quota = limiter.hit(principal.org_id, clock.now())
    except RateLimited:
        request.state.quota = Quota(limiter.limit, 0)
        raise
    return principal


LimitedPrincipalDep = Annotated[Principal, Depends(get_limited_principal)]
