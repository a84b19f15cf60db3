"""A campaign's results as a CSV file, for scripts (the dashboard links the same rows)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from ringcast.api.deps import ScopedRoute, StoreDep, WorkspaceCampaignDep, requires
from ringcast.services.export import ExportRows, csv_chunks

router = APIRouter(prefix="/ringcast/v1", tags=["ringcast"], route_class=ScopedRoute)


@router.get(
    "/campaigns/{campaign_id}/export",
    operation_id="exportCampaignResults",
    dependencies=[requires("campaigns:read")],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The results, streamed"}},
)
def export_campaign(
    campaign: WorkspaceCampaignDep,
    store: StoreDep,
    file_format: Annotated[
        Literal["csv"], Query(alias="format", description="The file format")
    ] = "csv",
    rows: Annotated[
        ExportRows, Query(description="One row per contact, or one per attempt")
    ] = "contacts",
) -> StreamingResponse:
    """The campaign's results: one row per contact (its number, context columns, state,
    reason, attempts, last outcome and last call time) or one per attempt, streamed."""
    name = f"{campaign.id}-{rows}.{file_format}"
    return StreamingResponse(
        csv_chunks(store, campaign, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
