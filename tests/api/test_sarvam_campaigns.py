"""Sarvam campaigns: create, list, get, PATCH rules, every status transition, tenancy."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from ringcast.core.states import CampaignStatus

from .conftest import Account, make_account

ACTIONS = ["pause", "resume", "cancel"]
#: Sarvam's seed table, written out independently of the implementation.
ALLOWED = {
    ("scheduled", "pause"): "paused",
    ("active", "pause"): "paused",
    ("paused", "resume"): "scheduled",
    ("scheduled", "cancel"): "cancelled",
    ("active", "cancel"): "cancelled",
    ("paused", "cancel"): "cancelled",
}


def base(account: Account) -> str:
    return f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}"


def body(account: Account, clock, **over: Any) -> dict[str, Any]:
    start = clock.now() + timedelta(hours=1)
    b: dict[str, Any] = {
        "name": "Loan reminders_2026",
        "description": "EMI reminders",
        "app_config": {
            "app_id": account.agent_id,
            "app_version": 1,
            "attempts_per_second": 2.5,
            "connection_configs": [
                {"connection_id": "exotel-1", "phone_numbers": ["+918012345678"], "weight": 2}
            ],
            "retry_config": {
                "max_retries": 3,
                "retry_on": {
                    "busy": {"enabled": True},
                    "no_answer": {"enabled": True},
                    "failed": {"enabled": False},
                    "short_duration": {"enabled": True, "threshold_seconds": 8},
                    "provider_error": {
                        "enabled": True,
                        "max_retries": 2,
                        "retry_interval_minutes": 6,
                    },
                },
                "retry_interval_minutes": [10, 30],
            },
        },
        "start_timestamp": start.isoformat(),
        "end_timestamp": (start + timedelta(days=2)).isoformat(),
        "allowed_schedule": {
            "allowed_start_time": "09:00",
            "allowed_end_time": "18:00",
            "allowed_days": ["Monday", "Tuesday", "Wednesday"],
            "timezone": "Asia/Kolkata",
        },
        "webhook_config": {
            "url": "https://93.184.215.14/sarvam",
            "metadata": {"team": "collections"},
        },
    }
    b.update(over)
    return b


def create(client, account: Account, clock, **over: Any) -> dict[str, Any]:
    r = client.post(
        f"{base(account)}/campaigns", json=body(account, clock, **over), headers=account.headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_create_and_get(client, runtime, account: Account, clock) -> None:
    """A new campaign is scheduled; GET returns the summary plus its full configuration."""
    made = create(client, account, clock)
    assert made["status"] == "scheduled" and made["app_id"] == account.agent_id
    assert made["created_by"] == account.prefix == made["updated_by"]
    got = client.get(
        f"{base(account)}/campaigns/{made['campaign_id']}", headers=account.headers
    ).json()
    sent = body(account, clock)
    assert got["allowed_schedule"] == sent["allowed_schedule"]
    assert got["app_config"]["retry_config"]["retry_interval_minutes"] == [10, 30]
    assert got["app_config"]["connection_configs"][0]["phone_numbers"] == ["+918012345678"]
    assert got["webhook_config"]["metadata"] == {"team": "collections"}
    policy = runtime.store.get_campaign(made["campaign_id"]).config.retry
    assert [r.name for r in policy.rules] == [
        "short_duration_retry",
        "retry",
        "provider_error_retry",
    ]
    assert policy.max_retries == 3
    routes = runtime.store.get_campaign(made["campaign_id"]).config.routes
    assert [(r.connection_id, r.caller_numbers, r.weight) for r in routes] == [
        ("exotel-1", ("+918012345678",), 2)
    ]


def _bad(account, clock, path: str, value: Any) -> dict[str, Any]:
    b = body(account, clock)
    target = b
    parts = path.split(".")
    for p in parts[:-1]:
        target = target[int(p)] if p.isdigit() else target[p]
    target[parts[-1]] = value
    return b


CASES = [
    ("name", "bad/name!", ["body", "name"]),
    ("name", "x" * 51, ["body", "name"]),
    ("description", "x" * 151, ["body", "description"]),
    ("app_config.attempts_per_second", 0.05, ["body", "app_config", "attempts_per_second"]),
    ("app_config.attempts_per_second", 501, ["body", "app_config", "attempts_per_second"]),
    ("app_config.app_id", "nope", ["body", "app_config", "app_id"]),
    ("app_config.app_version", 7, ["body", "app_config", "app_version"]),
    (
        "app_config.connection_configs.0.phone_numbers",
        ["12"],
        ["body", "app_config", "connection_configs", 0, "phone_numbers"],
    ),
    (
        "app_config.retry_config.max_retries",
        21,
        ["body", "app_config", "retry_config", "max_retries"],
    ),
    ("allowed_schedule.timezone", "Asia/Nowhere", ["body", "allowed_schedule", "timezone"]),
    (
        "allowed_schedule.allowed_start_time",
        "9am",
        ["body", "allowed_schedule", "allowed_start_time"],
    ),
    (
        "allowed_schedule.allowed_end_time",
        "08:00",
        ["body", "allowed_schedule", "allowed_end_time"],
    ),
    ("allowed_schedule.allowed_days", ["Someday"], ["body", "allowed_schedule", "allowed_days", 0]),
    ("webhook_config.url", "ftp://x", ["body", "webhook_config", "url"]),
    ("start_timestamp", "2026-06-01T10:00:00", ["body", "start_timestamp"]),
]


@pytest.mark.parametrize(
    ("path", "value", "loc"), CASES, ids=[f"{c[0]}={c[1]!r}"[:40] for c in CASES]
)
def test_validation_is_422_with_fastapi_detail(
    client, account: Account, clock, path, value, loc
) -> None:
    """Each broken rule is a 422 whose detail[] points at the field."""
    r = client.post(
        f"{base(account)}/campaigns",
        json=_bad(account, clock, path, value),
        headers=account.headers,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["loc"] == loc for d in detail), detail
    assert all({"loc", "msg", "type"} <= set(d) for d in detail)


@pytest.mark.parametrize(
    ("start_after", "length", "field"),
    [
        (timedelta(seconds=60), timedelta(days=1), "start_timestamp"),
        (timedelta(days=8), timedelta(days=1), "start_timestamp"),
        (timedelta(hours=1), timedelta(seconds=60), "end_timestamp"),
        (timedelta(hours=1), timedelta(days=31), "end_timestamp"),
    ],
)
def test_documented_time_limits(
    client, account: Account, clock, start_after, length, field
) -> None:
    """Start 120 s to 7 days ahead; end 120 s to 30 days after the start."""
    start = clock.now() + start_after
    b = body(
        account,
        clock,
        start_timestamp=start.isoformat(),
        end_timestamp=(start + length).isoformat(),
    )
    r = client.post(f"{base(account)}/campaigns", json=b, headers=account.headers)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field]


def test_live_campaign_limit(client, account: Account, clock) -> None:
    """The eleventh scheduled-or-active campaign of a workspace is a 409; pausing frees a place."""
    made = [create(client, account, clock) for _ in range(10)]
    r = client.post(
        f"{base(account)}/campaigns", json=body(account, clock), headers=account.headers
    )
    assert r.status_code == 409 and "10" in r.json()["detail"]
    client.put(
        f"{base(account)}/campaigns/{made[0]['campaign_id']}/status",
        json={"action": "pause"},
        headers=account.headers,
    )
    create(client, account, clock)
    resume = client.put(
        f"{base(account)}/campaigns/{made[0]['campaign_id']}/status",
        json={"action": "resume"},
        headers=account.headers,
    )
    assert resume.status_code == 409


def test_list_filters_sorts_and_pages(client, account: Account, clock) -> None:
    """campaign_status, search, sort and offset/limit with next and prev page URIs."""
    names = ["alpha one", "beta two", "gamma three", "alpha four"]
    ids = {}
    for n in names:
        clock.advance(timedelta(seconds=1))
        ids[n] = create(client, account, clock, name=n)["campaign_id"]
    client.put(
        f"{base(account)}/campaigns/{ids['beta two']}/status",
        json={"action": "pause"},
        headers=account.headers,
    )
    url = f"{base(account)}/campaigns"
    page = client.get(url, params={"limit": 2}, headers=account.headers).json()
    assert page["total"] == 4 and [i["name"] for i in page["items"]] == [
        "alpha four",
        "gamma three",
    ]
    assert page["next_page_uri"].endswith("offset=2&limit=2") and page["prev_page_uri"] is None
    second = client.get(page["next_page_uri"], headers=account.headers).json()
    assert [i["name"] for i in second["items"]] == ["beta two", "alpha one"] and second[
        "next_page_uri"
    ] is None
    assert second["prev_page_uri"].endswith("offset=0&limit=2")
    alpha = client.get(
        url,
        params={"search": "ALPHA", "sort_by": "name", "sort_order": "asc"},
        headers=account.headers,
    )
    assert [i["name"] for i in alpha.json()["items"]] == ["alpha four", "alpha one"]
    paused = client.get(url, params={"campaign_status": "paused"}, headers=account.headers).json()
    assert [i["name"] for i in paused["items"]] == ["beta two"]
    assert client.get(url, params={"limit": 101}, headers=account.headers).status_code == 422


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product([s.value for s in CampaignStatus], ACTIONS))
)
def test_every_transition(
    client, runtime, account: Account, clock, status: str, action: str
) -> None:
    """Each (status, action) pair follows the seed's table; others are 409 naming the status."""
    cid = create(client, account, clock)["campaign_id"]
    runtime.store.set_campaign_status(cid, CampaignStatus(status), clock.now())
    r = client.put(
        f"{base(account)}/campaigns/{cid}/status", json={"action": action}, headers=account.headers
    )
    if (status, action) in ALLOWED:
        assert r.status_code == 200, r.text
        assert r.json()["status"] == ALLOWED[(status, action)]
    else:
        assert r.status_code == 409, r.text
        assert status in r.json()["detail"]
        assert runtime.store.get_campaign(cid).config.status.value == status


@pytest.mark.parametrize("action", ["stop", "", None, "PAUSE"])
def test_unknown_action_is_422(client, account: Account, clock, action) -> None:
    """A status change with a missing, empty, unknown or wrongly cased action is a 422."""
    cid = create(client, account, clock)["campaign_id"]
    r = client.put(
        f"{base(account)}/campaigns/{cid}/status", json={"action": action}, headers=account.headers
    )
    assert r.status_code == 422


def test_patch_rules(client, runtime, account: Account, clock) -> None:
    """PATCH works while scheduled or paused, changes only what is sent, and is 409 otherwise."""
    cid = create(client, account, clock)["campaign_id"]
    url = f"{base(account)}/campaigns/{cid}"
    r = client.patch(
        url,
        json={
            "name": "Renamed-1",
            "allowed_schedule": {
                "allowed_start_time": "10:00",
                "allowed_end_time": "12:00",
                "allowed_days": ["Friday"],
            },
        },
        headers=account.headers,
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed-1"
    got = client.get(url, headers=account.headers).json()
    assert (
        got["allowed_schedule"]["allowed_days"] == ["Friday"]
        and got["description"] == "EMI reminders"
    )
    assert str(runtime.store.get_campaign(cid).config.schedule.weekly.slots[0]) == "10:00-12:00"
    assert client.patch(url, json={"name": "bad!"}, headers=account.headers).status_code == 422
    assert (
        client.patch(url, json={"description": "x" * 151}, headers=account.headers).status_code
        == 422
    )
    too_long = (clock.now() + timedelta(days=40)).isoformat()
    assert (
        client.patch(url, json={"end_timestamp": too_long}, headers=account.headers).status_code
        == 422
    )
    for status in ("active", "ended", "cancelled"):
        runtime.store.set_campaign_status(cid, CampaignStatus(status), clock.now())
        r = client.patch(url, json={"name": "Again"}, headers=account.headers)
        assert r.status_code == 409 and status in r.json()["detail"]
    runtime.store.set_campaign_status(cid, CampaignStatus.PAUSED, clock.now())
    assert (
        client.patch(
            url,
            json={"app_config": {"app_id": account.agent_id, "attempts_per_second": 9}},
            headers=account.headers,
        ).status_code
        == 200
    )
    assert runtime.store.get_campaign(cid).config.pacing.attempts_per_second == 9


def test_tenancy(client, runtime, clock, account: Account, other_account: Account) -> None:
    """Another org's path, another workspace's key, another workspace's campaign: all 404."""
    cid = create(client, account, clock)["campaign_id"]
    mine = f"{base(account)}/campaigns/{cid}"
    assert client.get(mine, headers=other_account.headers).status_code == 404
    theirs_path = f"{base(other_account)}/campaigns/{cid}"
    r1 = client.get(theirs_path, headers=other_account.headers)
    r2 = client.get(
        f"{base(other_account)}/campaigns/00000000-0000-4000-8000-000000000000",
        headers=other_account.headers,
    )
    assert r1.status_code == r2.status_code == 404 and r1.json() == r2.json()
    from ringcast.services import accounts

    sales = accounts.issue_key(runtime.store, clock, "acme", "sales")
    sales_headers = {"X-API-Key": sales.plaintext}
    sales_base = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{sales.workspace.id}"
    assert client.get(f"{sales_base}/campaigns/{cid}", headers=sales_headers).status_code == 404
    assert client.get(mine, headers=sales_headers).status_code == 404
    assert client.get(f"{sales_base}/campaigns", headers=sales_headers).json()["total"] == 0
    assert client.get(f"{base(account)}/campaigns", headers={}).status_code == 401


def test_what_the_path_names_is_resolved_before_the_body(
    client, clock, account: Account, other_account: Account
) -> None:
    """A request aimed at a campaign or workspace the caller cannot see answers 404 even
    when its body or query is also invalid; the caller's own campaign answers 422."""
    cid = create(client, account, clock)["campaign_id"]
    bad_patch = {"name": "no/slashes"}
    theirs = f"{base(other_account)}/campaigns/{cid}"
    assert client.patch(theirs, json=bad_patch, headers=other_account.headers).status_code == 404
    mine = f"{base(account)}/campaigns/{cid}"
    assert client.patch(mine, json=bad_patch, headers=account.headers).status_code == 422
    elsewhere = f"{base(account)}/campaigns"
    r = client.post(elsewhere, json={}, headers=other_account.headers)
    assert r.status_code == 404
    bad_limit = {"limit": 0}
    r = client.get(f"{theirs}/webhooks", params=bad_limit, headers=other_account.headers)
    assert r.status_code == 404


def test_cross_surface(client, account: Account, clock) -> None:
    """A campaign made through one surface reads back through the other, same status and days."""
    sarvam = create(client, account, clock)
    v = client.get(f"/v1/campaigns/{sarvam['campaign_id']}", headers=account.headers)
    assert v.status_code == 200
    assert v.json()["status"] == "ACTIVE"  # scheduled reads ACTIVE on Volubile
    assert v.json()["timeSlots"] == [{"startTime": "09:00", "endTime": "18:00"}]
    assert (
        v.json()["days"] == ["MONDAY", "TUESDAY", "WEDNESDAY"]
        and v.json()["timezone"] == "Asia/Kolkata"
    )
    client.post(
        f"/v1/campaigns/{sarvam['campaign_id']}/status", json="PAUSED", headers=account.headers
    )
    s = client.get(
        f"{base(account)}/campaigns/{sarvam['campaign_id']}", headers=account.headers
    ).json()
    assert s["status"] == "paused"

    from .test_volubile_campaigns import valid_body

    vol = client.post(
        "/v1/campaigns", json=valid_body(account.agent_id), headers=account.headers
    ).json()
    s = client.get(f"{base(account)}/campaigns/{vol['id']}", headers=account.headers)
    assert s.status_code == 200
    detail = s.json()
    assert detail["status"] == "scheduled"
    assert detail["allowed_schedule"] == {
        "allowed_start_time": "10:00",
        "allowed_end_time": "15:00",
        "allowed_days": ["Monday", "Tuesday"],
        "timezone": "Europe/Paris",
    }
    assert detail["app_config"]["retry_config"]["max_retries"] == 2


def test_second_org_sees_nothing(client, runtime, clock, account: Account) -> None:
    """A brand-new organization's list is empty."""
    create(client, account, clock)
    other = make_account(runtime, clock, "initech")
    assert client.get(f"{base(other)}/campaigns", headers=other.headers).json()["total"] == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://[::ffff:10.0.0.1]/hook"])
def test_a_private_webhook_url_is_refused_when_set(
    client, runtime, account: Account, clock, url: str
) -> None:
    """A webhook URL on a private address is a 422 naming webhook_config.url, on create and
    on PATCH, in the Sarvam shape; RINGCAST_WEBHOOKS_ALLOW_PRIVATE lets it through."""
    b = body(account, clock, webhook_config={"url": url})
    r = client.post(f"{base(account)}/campaigns", json=b, headers=account.headers)
    assert r.status_code == 422, r.text
    (problem,) = r.json()["detail"]
    assert problem["loc"] == ["body", "webhook_config", "url"]
    assert problem["msg"] == "must be a public address ringcast may reach"
    made = create(client, account, clock)["campaign_id"]
    patch = {"app_config": {"app_id": account.agent_id, "webhook_config": {"url": url}}}
    r = client.patch(f"{base(account)}/campaigns/{made}", json=patch, headers=account.headers)
    assert r.status_code == 422 and "127.0.0.1" not in r.json()["detail"][0]["msg"]
    runtime.settings.webhooks_allow_private = True
    r = client.post(f"{base(account)}/campaigns", json=b, headers=account.headers)
    assert r.status_code == 201, r.text
