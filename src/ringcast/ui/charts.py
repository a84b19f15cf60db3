"""The data the campaign page's charts draw (``static/campaign.js`` fetches it).

``charts.json``: attempts per hour of the campaign's zone by outcome group, and the curve
of final contacts actually achieved. ``forecast.json``: what the native forecast
(``POST /ringcast/v1/campaigns/{id}/forecast``, ``ringcast.forecast.from_store``, with the
same default outcome mix and seed) predicts from the campaign's state now: the curve of
final contacts it expects, starting where reality is, and the predicted end. The forecast
runs the campaign on virtual time over a private copy, so it is fetched apart and less
often than the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ringcast import forecast
from ringcast.clock import Clock
from ringcast.gateways.simulator import DEFAULT_MIX, OutcomeModel
from ringcast.services import dashboard
from ringcast.ui.campaigns import campaign_of
from ringcast.ui.session import UiPrincipal, UiStore
from ringcast.ui.templating import local_time

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/campaigns/{campaign_id}/charts.json", name="ui_campaign_charts")
def charts(campaign_id: str, principal: UiPrincipal, store: UiStore) -> JSONResponse:
    campaign = campaign_of(store, principal, campaign_id)
    zone = campaign.config.schedule.weekly.zone
    hourly = dashboard.hourly(store.attempt_marks(campaign.id), ZoneInfo(zone))
    achieved = dashboard.curve(store.final_marks(campaign.id))
    return JSONResponse({"zone": zone, "hourly": hourly, "achieved": achieved})


def forecast_curve(store: Any, campaign_id: str, now: datetime) -> dict[str, Any]:
    """The forecast from ``now``: its curve of final contacts and its predicted end."""
    model = OutcomeModel.parse(DEFAULT_MIX, seed=0)
    result = forecast.from_store(store, campaign_id, model, now)
    ended: dict[str, datetime] = {}
    for attempt in result.attempts:
        if attempt.ended_at is not None and attempt.ended_at > now:
            seen = ended.get(attempt.contact_id)
            ended[attempt.contact_id] = max(seen, attempt.ended_at) if seen else attempt.ended_at
    finals = [k for k in result.contacts if k.state.is_final]
    moments = sorted(ended[k.id] for k in finals if k.id in ended)
    start = len(finals) - len(moments)
    summary = result.summary()
    return {
        "now": now.timestamp(),
        "points": [[now.timestamp(), float(start)], *dashboard.curve(moments, start)],
        "end": summary["last_final_at"],
        "end_text": _local(summary["last_final_at"], result.zone),
        "all_final": summary["all_final"],
        "contacts": summary["contacts"],
    }


def _local(iso: str | None, zone: ZoneInfo) -> str | None:
    return local_time(datetime.fromisoformat(iso), zone) if iso else None


@router.get("/campaigns/{campaign_id}/forecast.json", name="ui_campaign_forecast")
async def forecast_json(
    request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore
) -> JSONResponse:
    campaign = campaign_of(store, principal, campaign_id)
    clock: Clock = request.app.state.clock
    found = await run_in_threadpool(forecast_curve, store, campaign.id, clock.now())
    return JSONResponse(found)
