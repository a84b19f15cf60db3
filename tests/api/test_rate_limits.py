"""Rate limits on every surface, per account; shared by every API process on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.runtime import Runtime

from .conftest import START, Account, make_account


def _paths(account: Account) -> dict[str, str]:
    sarvam = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"
    return {
        "volubile": "/v1/agents",
        "sarvam": f"{sarvam}/campaigns",
        "native": "/ringcast/v1/account/webhook",
    }


@pytest.mark.parametrize("surface", ["volubile", "sarvam", "native"])
def test_every_surface_is_limited_per_account(
    runtime: Runtime, clock: VirtualClock, account: Account, other_account: Account, surface: str
) -> None:
    """Past its surface's limit an account gets a 429 in that surface's shape, with
    Retry-After and the quota headers; another account, or another surface, goes on;
    the next window lets it in again."""
    runtime.settings = runtime.settings.model_copy(
        update={f"{'' if surface == 'volubile' else surface + '_'}rate_limit_requests": 3}
    )
    with TestClient(create_app(runtime, clock)) as c:
        path = _paths(account)[surface]
        answers = [c.get(path, headers=account.headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        limited = answers[-1]
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.headers["X-RateLimit-Limit"] == "3"
        body = limited.json()
        if surface == "volubile":
            assert body["status"] == 429 and "rate limit" in body["message"]
        else:
            assert body == {"detail": limited.json()["detail"]} and "rate limit" in body["detail"]
        assert c.get(_paths(other_account)[surface], headers=other_account.headers).is_success
        elsewhere = next(p for s, p in _paths(account).items() if s != surface)
        assert c.get(elsewhere, headers=account.headers).status_code == 200
        clock.advance(timedelta(seconds=61))
        assert c.get(path, headers=account.headers).status_code == 200


def test_the_defaults_are_documented_numbers() -> None:
    """Volubile keeps its 100 per 15 s; the Sarvam and native surfaces get 600 per 60 s."""
    settings = Settings()
    assert (settings.rate_limit_requests, settings.rate_limit_window_s) == (100, 15)
    assert (settings.sarvam_rate_limit_requests, settings.sarvam_rate_limit_window_s) == (600, 60)
    assert (settings.native_rate_limit_requests, settings.native_rate_limit_window_s) == (600, 60)


@pytest.mark.postgres
def test_api_processes_on_postgresql_share_one_count(pg_engine_url: str) -> None:
    """Two API processes over one PostgreSQL database (two apps, two engines) count an
    account's requests together: the limit holds across them, not per process."""
    clock = VirtualClock(START)
    runtimes = []
    for _ in range(2):
        engine = make_engine(pg_engine_url)
        runtimes.append(
            Runtime(
                Settings(database_url=pg_engine_url, native_rate_limit_requests=5),
                engine,
                SqlStore(engine),
            )
        )
    upgrade(runtimes[0].engine)
    account = make_account(runtimes[0], clock, "acme")
    try:
        with (
            TestClient(create_app(runtimes[0], clock)) as one,
            TestClient(create_app(runtimes[1], clock)) as two,
        ):
            codes = [
                (one if i % 2 else two)
                .get("/ringcast/v1/account/webhook", headers=account.headers)
                .status_code
                for i in range(8)
            ]
    finally:
        for rt in runtimes:
            rt.close()
    assert codes == [200] * 5 + [429] * 3


@pytest.mark.postgres
def test_concurrent_requests_each_get_their_own_count(pg_engine_url: str) -> None:
    """Forty requests counted at once from eight threads get the counts 1 to 40, each
    once: the upsert is atomic; a new window starts again at 1."""
    engine = make_engine(pg_engine_url)
    upgrade(engine)
    store = SqlStore(engine)
    try:
        with ThreadPoolExecutor(8) as pool:
            counts = list(pool.map(lambda _: store.count_request("native:acme", 7), range(40)))
        assert sorted(counts) == list(range(1, 41))
        assert store.count_request("native:acme", 8) == 1
        assert store.count_request("native:globex", 8) == 1
    finally:
        engine.dispose()
