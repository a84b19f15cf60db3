"""``/metrics`` shows the deployment, never a tenant, and can require a token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.runtime import Runtime

from .conftest import Account
from .test_forecast_api import make_campaign

TOKEN = "m3trics-t0ken-m3trics-t0ken"


def test_metrics_carry_no_per_tenant_label(client, account: Account) -> None:
    """After a tenant's activity, no metric is labelled by organization, workspace,
    campaign, agent, connection or number, and none of its ids appears."""
    campaign_id = make_campaign(client, account, people=2)
    text = client.get("/metrics").text
    labels = set(re.findall(r"[{,]([a-z_]+)=", text))
    assert labels <= {"outcome", "result", "le"}, labels
    for tenant_value in (account.org_id, account.workspace_id, account.agent_id, campaign_id):
        assert tenant_value not in text
    assert "+336123456" not in text


def test_a_metrics_token_is_required_when_set(runtime: Runtime, clock: VirtualClock) -> None:
    """With RINGCAST_METRICS_TOKEN set, /metrics is 401 without it or with another, and
    200 with ``Authorization: Bearer <token>``."""
    runtime.settings = runtime.settings.model_copy(update={"metrics_token": TOKEN})
    with TestClient(create_app(runtime, clock)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "ringcast_attempts_total" in ok.text
