"""Sarvam's scheduling endpoints, below /api/scheduling/v1/orgs/{org}/workspaces/{workspace}.

Each one translates the wire format, calls a service and translates the result back. The
path's organization, workspace, campaign and cohort are resolved by dependencies
(``WorkspaceDep``, ``CampaignDep``, ``CohortDep``): a key sees only its own organization's
and workspace's paths, and anything else answers 404 as if it did not exist. Each route
declares the scope it needs (``requires``), checked before anything else, so a bearer
token minted without it is refused (403) whatever the path names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from ringcast.api.auth import Principal
from ringcast.api.deps import (
    ClockDep,
    PrincipalDep,
    ScopedRoute,
    SettingsDep,
    StoreDep,
    requires,
)
from ringcast.api.sarvam import schemas as s
from ringcast.api.sarvam import translate
from ringcast.core.errors import NotFound
from ringcast.core.states import CampaignAction
from ringcast.records import Campaign, CampaignQuery, Cohort
from ringcast.services import campaigns as service
from ringcast.services import cohorts, scheduling

PREFIX = "/api/scheduling/v1/orgs/{org_id}/workspaces/{workspace_id}"
ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": s.ErrorDetail, "description": text}
    for status, text in [
        (400, "Bad Request"),
        (401, "Missing or invalid X-API-Key"),
        (403, "Forbidden"),
        (404, "Not found (or not in this organization and workspace)"),
        (409, "Conflict with the campaign's status or the workspace's limits"),
    ]
}
router = APIRouter(prefix=PREFIX, tags=["Campaigns"], responses=ERRORS, route_class=ScopedRoute)

# Each dependency below declares the path's ids itself, in the path's order: FastAPI lists
# a route's parameters as its dependencies declare them, and generated clients take them
# in that order.


def _workspace_principal(org_id: str, workspace_id: str, principal: PrincipalDep) -> Principal:
    """The caller, if the path names its own organization and workspace."""
    if principal.org_id != org_id or principal.workspace_id != workspace_id:
        raise NotFound("workspace", workspace_id)
    return principal


WorkspaceDep = Annotated[Principal, Depends(_workspace_principal)]


def _path_campaign(
    org_id: str, workspace_id: str, campaign_id: str, _caller: WorkspaceDep, store: StoreDep
) -> Campaign:
    """The path's campaign, if it is in the caller's organization and workspace."""
    return service.get(store, campaign_id, org_id, workspace_id)


CampaignDep = Annotated[Campaign, Depends(_path_campaign)]


def _path_cohort(
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    cohort_id: str,
    caller: WorkspaceDep,
    store: StoreDep,
) -> Cohort:
    """The path's cohort, if it belongs to the path's campaign."""
    campaign = _path_campaign(org_id, workspace_id, campaign_id, caller, store)
    return cohorts.get(store, campaign, cohort_id)


CohortDep = Annotated[Cohort, Depends(_path_cohort)]


def _limits(settings: SettingsDep) -> scheduling.Limits:
    return scheduling.Limits.of(settings)


LimitsDep = Annotated[scheduling.Limits, Depends(_limits)]


def _cohort_job(settings: SettingsDep) -> cohorts.Job:
    """This request's cohort job: its lease and batch size from the settings."""
    return cohorts.Job.here(timedelta(seconds=settings.cohort_lease_s), settings.cohort_batch_rows)


CohortJobDep = Annotated[cohorts.Job, Depends(_cohort_job)]


@router.post(
    "/campaigns",
    status_code=201,
    operation_id="create_campaign",
    dependencies=[requires("campaigns:write")],
)
def create_campaign(
    principal: WorkspaceDep,
    store: StoreDep,
    clock: ClockDep,
    limits: LimitsDep,
    body: s.CampaignCreateRequest,
) -> s.CampaignMetadata:
    """Create a campaign; it starts ``scheduled`` and activates inside its window."""
    new = translate.new_campaign(body, principal.org_id, principal.workspace_id, principal.actor)
    return translate.metadata(scheduling.create(store, clock, new, limits))


SortBy = Literal["created_at", "updated_at", "name", "start_timestamp"]


@router.get("/campaigns", operation_id="list_campaigns", dependencies=[requires("campaigns:read")])
def list_campaigns(
    request: Request,
    principal: WorkspaceDep,
    store: StoreDep,
    campaign_status: s.Status | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    sort_by: SortBy = "created_at",
    sort_order: Literal["asc", "desc"] = "desc",
    search: Annotated[str | None, Query(max_length=50)] = None,
) -> s.CampaignList:
    """The workspace's campaigns, filtered, sorted and paged."""
    where = CampaignQuery(
        principal.workspace_id,
        campaign_status.value if campaign_status else None,
        search,
        sort_by,
        sort_order == "desc",
    )
    found, total = store.list_campaigns(where, offset, limit)

    def page(at: int) -> str:
        query = request.query_params.multi_items()
        kept = [(k, v) for k, v in query if k not in ("offset", "limit")]
        params = "&".join(
            f"{k}={v}" for k, v in [*kept, ("offset", str(at)), ("limit", str(limit))]
        )
        return f"{request.url.path}?{params}"

    return s.CampaignList(
        items=[translate.metadata(c) for c in found],
        total=total,
        limit=limit,
        offset=offset,
        next_page_uri=page(offset + limit) if offset + limit < total else None,
        prev_page_uri=page(max(0, offset - limit)) if offset > 0 else None,
    )


@router.get(
    "/campaigns/{campaign_id}",
    operation_id="get_campaign",
    dependencies=[requires("campaigns:read")],
)
def get_campaign(campaign: CampaignDep) -> s.CampaignDetail:
    return translate.detail(campaign)


@router.patch(
    "/campaigns/{campaign_id}",
    operation_id="update_campaign",
    dependencies=[requires("campaigns:write")],
)
def update_campaign(
    campaign: CampaignDep,
    principal: WorkspaceDep,
    store: StoreDep,
    clock: ClockDep,
    limits: LimitsDep,
    body: s.CampaignUpdateRequest,
) -> s.CampaignMetadata:
    """Change a campaign; only while it is ``paused`` or ``scheduled``."""
    edit = translate.edit(campaign, body)
    updated = scheduling.update(store, clock, campaign, edit, limits, principal.actor)
    return translate.metadata(updated)


_ACTIONS = {
    "pause": CampaignAction.PAUSE,
    "resume": CampaignAction.RESUME,
    "cancel": CampaignAction.CANCEL,
}


@router.put(
    "/campaigns/{campaign_id}/status",
    operation_id="update_campaign_status",
    dependencies=[requires("campaigns:write")],
)
def update_status(
    campaign: CampaignDep,
    principal: WorkspaceDep,
    store: StoreDep,
    clock: ClockDep,
    limits: LimitsDep,
    body: s.UpdateStatusRequest,
) -> s.CampaignMetadata:
    """pause (scheduled|active), resume (paused, back to scheduled) or cancel (any live status)."""
    action = _ACTIONS[body.action]
    changed = scheduling.act(store, clock, campaign, action, principal.actor, limits)
    return translate.metadata(changed)


# --- cohorts -------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/cohorts/upload",
    status_code=202,
    tags=["Cohorts"],
    operation_id="upload_cohort",
    dependencies=[requires("campaigns:write")],
)
def upload_cohort(
    background: BackgroundTasks,
    campaign: CampaignDep,
    principal: WorkspaceDep,
    store: StoreDep,
    clock: ClockDep,
    job: CohortJobDep,
    name: Annotated[str, Form(min_length=1, max_length=50)],
    cohort_file: Annotated[UploadFile, File(description="CSV with a header row")],
    cohort_transformation_file: Annotated[UploadFile, File(description="column mapping JSON")],
) -> s.Cohort:
    """Upload contacts as CSV; rows are checked and added in the background, by a job
    stored with the file that any server or worker resumes if this one dies."""
    cohort = cohorts.upload(
        store,
        clock,
        campaign,
        name,
        cohort_file.file,
        cohort_transformation_file.file.read(1_000_000),
        principal.actor,
        job,
    )
    background.add_task(cohorts.resume, store, clock, job, cohort)
    return translate.cohort(cohort)


@router.post(
    "/campaigns/{campaign_id}/cohorts/stream",
    status_code=202,
    tags=["Cohorts"],
    operation_id="stream_cohort",
    dependencies=[requires("campaigns:write")],
)
def stream_cohort(
    campaign: CampaignDep,
    principal: WorkspaceDep,
    store: StoreDep,
    clock: ClockDep,
    job: CohortJobDep,
    body: s.StreamCohortRequest,
) -> s.Cohort:
    """Add 1 to 1000 users as JSON; an invalid or repeated number rejects that user only."""
    rows = [
        cohorts.Row(u.user_phone_number, u.user_identifier, u.app_variables, u.app_overrides)
        for u in body.users
    ]
    return translate.cohort(
        cohorts.stream(store, clock, campaign, body.name, rows, principal.actor, job)
    )


@router.get(
    "/campaigns/{campaign_id}/cohorts",
    tags=["Cohorts"],
    operation_id="list_cohorts",
    dependencies=[requires("campaigns:read")],
)
def list_cohorts(campaign: CampaignDep, store: StoreDep) -> s.CohortList:
    found = store.list_cohorts(campaign.id)
    return s.CohortList(items=[translate.cohort(c) for c in found], total=len(found))


@router.get(
    "/campaigns/{campaign_id}/cohorts/{cohort_id}",
    tags=["Cohorts"],
    operation_id="get_cohort",
    dependencies=[requires("campaigns:read")],
)
def get_cohort(cohort: CohortDep) -> s.Cohort:
    return translate.cohort(cohort)


@router.get(
    "/campaigns/{campaign_id}/cohorts/{cohort_id}/files",
    tags=["Cohorts"],
    operation_id="get_cohort_file",
    dependencies=[requires("campaigns:read")],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The file"}
    },
)
def get_cohort_file(
    cohort: CohortDep,
    store: StoreDep,
    file_type: cohorts.FileType = "cohort",
) -> StreamingResponse:
    """The uploaded CSV, the rejected rows (with ``rejected_reason``), or the mapping,
    streamed from the database part by part."""
    parts = cohorts.cohort_file(store, cohort, file_type)
    media = "application/json" if file_type == "cohort_transformation" else "text/csv"
    filename = f"{cohort.name}-{cohorts.FILE_NAMES[file_type]}"
    # As Starlette's FileResponse writes it: plain if it can be, else RFC 5987.
    quoted = quote(filename)
    disposition = (
        f'attachment; filename="{filename}"'
        if quoted == filename
        else f"attachment; filename*=utf-8''{quoted}"
    )
    return StreamingResponse(parts, media_type=media, headers={"Content-Disposition": disposition})


# --- webhook deliveries --------------------------------------------------------------


@router.get(
    "/campaigns/{campaign_id}/webhooks",
    tags=["Webhooks"],
    operation_id="list_webhook_deliveries",
    dependencies=[requires("integrations:read")],
)
def list_webhooks(
    campaign: CampaignDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> s.WebhookDeliveryList:
    """The campaign's latest webhook deliveries, newest first."""
    return s.WebhookDeliveryList(
        items=[translate.delivery(e) for e in store.list_outbox(campaign.id, limit)]
    )


@router.post(
    "/campaigns/{campaign_id}/webhooks/retry",
    status_code=202,
    tags=["Webhooks"],
    operation_id="retry_webhooks",
    dependencies=[requires("integrations:write")],
)
def retry_webhooks(
    campaign: CampaignDep, store: StoreDep, clock: ClockDep, body: s.RetryWebhooksRequest
) -> s.RetryWebhooksResponse:
    """Deliver these attempts' payloads again (duplicates removed, running ones skipped)."""
    ids = list(dict.fromkeys(body.attempt_ids))
    return s.RetryWebhooksResponse(accepted=store.requeue_outbox(campaign.id, ids, clock.now()))
