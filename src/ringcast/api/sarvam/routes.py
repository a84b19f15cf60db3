"""Sarvam's scheduling endpoints, below /api/scheduling/v1/orgs/{org}/workspaces/{workspace}."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from ringcast.api.auth import Principal
from ringcast.api.deps import ClockDep, PrincipalDep, StoreDep
from ringcast.api.sarvam import schemas as s
from ringcast.api.sarvam import translate
from ringcast.clock import Clock
from ringcast.config import Settings
from ringcast.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from ringcast.core.states import CampaignAction, CampaignStatus
from ringcast.db.store import SqlStore
from ringcast.records import Campaign, CampaignQuery, Cohort
from ringcast.services import campaigns as service
from ringcast.services import cohorts

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
router = APIRouter(prefix=PREFIX, tags=["Campaigns"], responses=ERRORS)


def _tenant(principal: Principal, org_id: str, workspace_id: str) -> None:
    """A key works only on its own organization's and workspace's paths."""
    if principal.org_id != org_id or principal.workspace_id != workspace_id:
        raise NotFound("workspace", workspace_id)


def _campaign(
    store: SqlStore, principal: Principal, org_id: str, workspace_id: str, campaign_id: str
) -> Campaign:
    _tenant(principal, org_id, workspace_id)
    return service.get(store, campaign_id, org_id, workspace_id)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def _check_window(
    settings: Settings, now: datetime, start: datetime | None, end: datetime | None, creating: bool
) -> None:
    """Sarvam's documented limits on start and end (configurable)."""
    if creating and start is not None:
        if start < now + timedelta(seconds=settings.sarvam_min_lead_s):
            raise ValidationFailed.single(
                "start_timestamp",
                start.isoformat(),
                f"must be at least {settings.sarvam_min_lead_s:g} seconds from now",
            )
        if start > now + timedelta(days=settings.sarvam_max_lead_days):
            raise ValidationFailed.single(
                "start_timestamp",
                start.isoformat(),
                f"must be at most {settings.sarvam_max_lead_days:g} days from now",
            )
    if start is not None and end is not None:
        if end < start + timedelta(seconds=settings.sarvam_min_duration_s):
            raise ValidationFailed.single(
                "end_timestamp",
                end.isoformat(),
                f"must be {settings.sarvam_min_duration_s:g} seconds or more after start_timestamp",
            )
        if end > start + timedelta(days=settings.sarvam_max_duration_days):
            raise ValidationFailed.single(
                "end_timestamp",
                end.isoformat(),
                f"must be at most {settings.sarvam_max_duration_days:g} days after start_timestamp",
            )
    if not creating and end is not None and end <= now:
        raise ValidationFailed.single("end_timestamp", end.isoformat(), "must be in the future")


def _check_live_limit(store: SqlStore, settings: Settings, workspace_id: str) -> None:
    if store.count_live_campaigns(workspace_id) >= settings.sarvam_max_live_campaigns:
        raise Conflict(
            f"the workspace already has {settings.sarvam_max_live_campaigns} scheduled or active "
            "campaigns; pause, cancel or finish one first"
        )


def _check_version(store: SqlStore, app: s.AgentConfig) -> None:
    agent = store.get_agent(app.app_id)
    if agent is not None and app.app_version is not None and app.app_version > agent.version:
        raise ValidationFailed.single(
            "app_config.app_version", app.app_version, f"the agent has no version {app.app_version}"
        )


@router.post("/campaigns", status_code=201, operation_id="create_campaign")
def create_campaign(
    request: Request,
    org_id: str,
    workspace_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: s.CampaignCreateRequest,
) -> s.CampaignMetadata:
    """Create a campaign; it starts ``scheduled`` and activates inside its window."""
    _tenant(principal, org_id, workspace_id)
    settings = _settings(request)
    _check_window(settings, clock.now(), body.start_timestamp, body.end_timestamp, creating=True)
    _check_version(store, body.app_config)
    _check_live_limit(store, settings, workspace_id)
    new = translate.new_campaign(body, org_id, workspace_id, principal.actor)
    return translate.metadata(service.create(store, clock, new))


SortBy = Literal["created_at", "updated_at", "name", "start_timestamp"]


@router.get("/campaigns", operation_id="list_campaigns")
def list_campaigns(
    request: Request,
    org_id: str,
    workspace_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    campaign_status: s.Status | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    sort_by: SortBy = "created_at",
    sort_order: Literal["asc", "desc"] = "desc",
    search: Annotated[str | None, Query(max_length=50)] = None,
) -> s.CampaignList:
    """The workspace's campaigns, filtered, sorted and paged."""
    _tenant(principal, org_id, workspace_id)
    where = CampaignQuery(
        workspace_id,
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


@router.get("/campaigns/{campaign_id}", operation_id="get_campaign")
def get_campaign(
    org_id: str, workspace_id: str, campaign_id: str, principal: PrincipalDep, store: StoreDep
) -> s.CampaignDetail:
    return translate.detail(_campaign(store, principal, org_id, workspace_id, campaign_id))


@router.patch("/campaigns/{campaign_id}", operation_id="update_campaign")
def update_campaign(
    request: Request,
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: s.CampaignUpdateRequest,
) -> s.CampaignMetadata:
    """Change a campaign; only while it is ``paused`` or ``scheduled``."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    status = campaign.config.status
    if status not in (CampaignStatus.PAUSED, CampaignStatus.SCHEDULED):
        raise InvalidTransition(status.value, "update (allowed while paused or scheduled)")
    current = translate.detail(campaign)
    app = body.app_config or current.app_config
    schedule = body.allowed_schedule or current.allowed_schedule
    end = body.end_timestamp or campaign.config.schedule.ends_at
    _check_window(
        _settings(request),
        clock.now(),
        campaign.config.schedule.starts_at,
        body.end_timestamp,
        creating=False,
    )
    if body.app_config is not None:
        service.check_agent(store.get_agent(app.app_id), org_id, app.app_id, translate.AGENT_FIELD)
        _check_version(store, app)
    config = translate.config(
        app,
        schedule,
        campaign.config.schedule.starts_at,
        end,
        campaign.config.pacing.max_concurrent,
    )
    hook = (
        s.WebhookConfig.model_validate(campaign.extra["webhook_config"])
        if (campaign.extra.get("webhook_config"))
        else None
    )
    updated = replace(
        campaign,
        name=body.name or campaign.name,
        description=body.description if body.description is not None else campaign.description,
        agent_id=app.app_id,
        agent_version=app.app_version or campaign.agent_version,
        config=replace(config, id=campaign.id, status=status),
        extra=translate.extra(app, schedule, app.webhook_config or hook),  # noqa: S610 - a field
        updated_at=clock.now(),
        updated_by=principal.actor,
    )
    store.update_campaign(updated)
    return translate.metadata(updated)


_ACTIONS = {
    "pause": CampaignAction.PAUSE,
    "resume": CampaignAction.RESUME,
    "cancel": CampaignAction.CANCEL,
}


@router.put("/campaigns/{campaign_id}/status", operation_id="update_campaign_status")
def update_status(
    request: Request,
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: s.UpdateStatusRequest,
) -> s.CampaignMetadata:
    """pause (scheduled|active), resume (paused, back to scheduled) or cancel (any live status)."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    action = _ACTIONS[body.action]
    if action is CampaignAction.RESUME and campaign.config.status is CampaignStatus.PAUSED:
        _check_live_limit(store, _settings(request), workspace_id)
    return translate.metadata(service.act(store, clock, campaign, action, principal.actor))


# --- cohorts -------------------------------------------------------------------------


def _data_dir(request: Request) -> Path:
    return Path(_settings(request).data_dir)


def _cohort_view(c: Cohort) -> s.Cohort:
    return s.Cohort(
        name=c.name,
        cohort_id=c.id,
        status=c.status,
        source_type=c.source_type,
        result=s.CohortResult(
            total_records=c.total_records,
            valid_records=c.valid_records,
            rejected_records=c.rejected_records,
        ),
        failure_reason=c.failure_reason,
        created_by=c.created_by,
        created_at=c.created_at,
        updated_at=c.updated_at,
        updated_by=c.updated_by,
    )


@router.post(
    "/campaigns/{campaign_id}/cohorts/upload",
    status_code=202,
    tags=["Cohorts"],
    operation_id="upload_cohort",
)
def upload_cohort(
    request: Request,
    background: BackgroundTasks,
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    name: Annotated[str, Form(min_length=1, max_length=50)],
    cohort_file: Annotated[UploadFile, File(description="CSV with a header row")],
    cohort_transformation_file: Annotated[UploadFile, File(description="column mapping JSON")],
) -> s.Cohort:
    """Upload contacts as CSV; rows are checked and added in the background."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    cohorts.check_open(campaign)
    agent = store.get_agent(campaign.agent_id)
    mapping = cohorts.parse_transformation(
        cohort_transformation_file.file.read(1_000_000), agent.variables if agent else ()
    )
    cohort = cohorts.new_cohort(campaign, name, "file_upload", mapping, principal.actor, clock)
    folder = cohorts.cohort_dir(_data_dir(request), cohort.id)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / cohorts.FILE_NAMES["cohort"]).open("wb") as out:
        shutil.copyfileobj(cohort_file.file, out, length=1 << 20)
    (folder / cohorts.FILE_NAMES["cohort_transformation"]).write_text(
        json.dumps(mapping), encoding="utf-8"
    )
    try:
        cohorts.check_file(folder / cohorts.FILE_NAMES["cohort"], mapping)
    except ValidationFailed:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    store.add_cohort(cohort)
    background.add_task(_process, store, clock, campaign, cohort, folder)
    return _cohort_view(cohort)


def _process(
    store: SqlStore, clock: Clock, campaign: Campaign, cohort: Cohort, folder: Path
) -> None:
    cohorts.process_upload(store, clock, campaign, cohort, folder)


@router.post(
    "/campaigns/{campaign_id}/cohorts/stream",
    status_code=202,
    tags=["Cohorts"],
    operation_id="stream_cohort",
)
def stream_cohort(
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: s.StreamCohortRequest,
) -> s.Cohort:
    """Add 1 to 1000 users as JSON; an invalid or repeated number rejects that user only."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    rows = [
        cohorts.Row(u.user_phone_number, u.user_identifier, u.app_variables, u.app_overrides)
        for u in body.users
    ]
    return _cohort_view(cohorts.stream(store, clock, campaign, body.name, rows, principal.actor))


@router.get("/campaigns/{campaign_id}/cohorts", tags=["Cohorts"], operation_id="list_cohorts")
def list_cohorts(
    org_id: str, workspace_id: str, campaign_id: str, principal: PrincipalDep, store: StoreDep
) -> s.CohortList:
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    found = store.list_cohorts(campaign.id)
    return s.CohortList(items=[_cohort_view(c) for c in found], total=len(found))


@router.get(
    "/campaigns/{campaign_id}/cohorts/{cohort_id}", tags=["Cohorts"], operation_id="get_cohort"
)
def get_cohort(
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    cohort_id: str,
    principal: PrincipalDep,
    store: StoreDep,
) -> s.Cohort:
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    return _cohort_view(cohorts.get(store, campaign, cohort_id))


@router.get(
    "/campaigns/{campaign_id}/cohorts/{cohort_id}/files",
    tags=["Cohorts"],
    operation_id="get_cohort_file",
    response_class=FileResponse,
    responses={
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The file"}
    },
)
def get_cohort_file(
    request: Request,
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    cohort_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    file_type: Literal["cohort", "rejected_records", "cohort_transformation"] = "cohort",
) -> FileResponse:
    """The uploaded CSV, the rejected rows (with ``rejected_reason``), or the mapping."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    cohort = cohorts.get(store, campaign, cohort_id)
    path = cohorts.cohort_dir(_data_dir(request), cohort.id) / cohorts.FILE_NAMES[file_type]
    if not path.exists():
        raise NotFound("file", file_type)
    media = "application/json" if file_type == "cohort_transformation" else "text/csv"
    return FileResponse(path, media_type=media, filename=f"{cohort.name}-{path.name}")


# --- webhook deliveries --------------------------------------------------------------


@router.get(
    "/campaigns/{campaign_id}/webhooks", tags=["Webhooks"], operation_id="list_webhook_deliveries"
)
def list_webhooks(
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> s.WebhookDeliveryList:
    """The campaign's latest webhook deliveries, newest first."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    return s.WebhookDeliveryList(
        items=[
            s.WebhookDelivery(
                attempt_id=e.attempt_id,
                event_type=e.event_type,
                status=e.status,
                deliveries=e.deliveries,
                last_status_code=e.last_status_code,
                created_at=e.created_at,
                delivered_at=e.delivered_at,
            )
            for e in store.list_outbox(campaign.id, limit)
        ]
    )


@router.post(
    "/campaigns/{campaign_id}/webhooks/retry",
    status_code=202,
    tags=["Webhooks"],
    operation_id="retry_webhooks",
)
def retry_webhooks(
    org_id: str,
    workspace_id: str,
    campaign_id: str,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: s.RetryWebhooksRequest,
) -> s.RetryWebhooksResponse:
    """Deliver these attempts' payloads again (duplicates removed, running ones skipped)."""
    campaign = _campaign(store, principal, org_id, workspace_id, campaign_id)
    ids = list(dict.fromkeys(body.attempt_ids))
    return s.RetryWebhooksResponse(accepted=store.requeue_outbox(campaign.id, ids, clock.now()))
