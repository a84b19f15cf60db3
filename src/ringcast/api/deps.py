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
    clock: ClockDep,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    """Who is calling (401 otherwise), counted against the account's rate limit."""
    principal = identify(store, request.app.state.signer, x_api_key, authorization)
    limiter = request.app.state.limiter
    try:
        request.state.quota = limiter.hit(principal.org_id, clock.now())
    except RateLimited:
        request.state.quota = Quota(limiter.limit, 0)
        raise
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]
