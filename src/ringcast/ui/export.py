"""The campaign's results as CSV from the dashboard: the same streamed rows as the API's
``GET /ringcast/v1/campaigns/{id}/export?format=csv`` (``services.export.csv_chunks``),
behind the session instead of an API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ringcast.services.export import ExportRows, csv_chunks
from ringcast.ui.campaigns import campaign_of
from ringcast.ui.session import UiPrincipal, UiStore

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/campaigns/{campaign_id}/export.csv", name="ui_campaign_export")
def export_csv(
    campaign_id: str,
    principal: UiPrincipal,
    store: UiStore,
    rows: Annotated[ExportRows, Query()] = "contacts",
) -> StreamingResponse:
    """One row per contact (or per attempt with ``?rows=attempts``), streamed."""
    campaign = campaign_of(store, principal, campaign_id)
    return StreamingResponse(
        csv_chunks(store, campaign, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{campaign.id}-{rows}.csv"'},
    )
