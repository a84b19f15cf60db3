"""Dependencies every surface shares: the store, the clock, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from ringcast.api.auth import Principal, RateLimited, identify
from ringcast.api.ratelimit import Quota
from ringcast.clock import Clock
from ringcast.db.store import SqlStore


def get_store(request: Request) -> SqlStore:
    store: SqlStore = request.app.state.runtime.store
    return store


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


StoreDep = Annotated[SqlStore, Depends(get_store)]
ClockDep = Annotated[Clock, Depends(get_clock)]


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
