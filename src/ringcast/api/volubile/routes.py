"""Volubile's endpoints. Each one declares its scope (``requires``); translate, call the
service, translate back."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from ringcast.api.auth import API_KEY_ONLY, Principal
from ringcast.api.bounded import BoundedDate
from ringcast.api.deps import (
    ClockDep,
    LimitedPrincipalDep,
    ScopedRoute,
    StoreDep,
    get_principal,
    requires,
)
from ringcast.api.volubile import schemas as w
from ringcast.api.volubile import translate
from ringcast.core.errors import InvalidTransition, ValidationFailed
from ringcast.core.states import CampaignAction, CampaignStatus
from ringcast.records import CallFilter, Campaign
from ringcast.services import accounts, calls, direct_calls, scheduling
from ringcast.services import campaigns as service

ERRORS = {
    status: {"model": w.ErrorResponse, "description": text}
    for status, text in [
        (400, "Bad Request"),
        (401, "Unauthorized: the credential is missing, invalid, revoked or disabled"),
        (403, "Forbidden: the credential lacks a scope"),
        (404, "Not Found"),
        (409, "Conflict: the workspace already has its limit of scheduled or active campaigns"),
        (429, "Too Many Requests"),
    ]
}

# Every request is counted against the account's rate limit first, whatever it is then
# refused for, so every answer carries the quota headers.
router = APIRouter(
    prefix="/v1",
    responses=ERRORS,  # type: ignore[arg-type]
    route_class=ScopedRoute,
    dependencies=[Depends(get_principal)],
)

#: Past this, page * size no longer fits a database integer; nobody pages that far.
MAX_PAGE = 10_000_000


def _workspace(store: StoreDep, principal: Principal) -> str:
    """Volubile has no workspaces: it sees its organization's default one."""
    ws = store.default_workspace(principal.org_id)
    return ws.id if ws else principal.workspace_id


def _limits(request: Request) -> scheduling.Limits:
    return scheduling.Limits.of(request.app.state.runtime.settings)


def _campaign(store: StoreDep, principal: Principal, campaign_id: str) -> Campaign:
    return service.get(store, campaign_id, principal.org_id, _workspace(store, principal))


@router.post(
    "/auth/token",
    tags=["Authentication"],
    operation_id="createToken",
    dependencies=[requires(API_KEY_ONLY)],
)
def create_token(
    request: Request, principal: LimitedPrincipalDep, body: w.AuthTokenRequest
) -> w.AuthTokenResponse:
    """Mint a short-lived bearer token with the given scopes. Only an API key may call this."""
    token = request.app.state.signer.issue(principal.key, frozenset(s.value for s in body.scope))
    return w.AuthTokenResponse(token=token, expiresIn=900, tokenType="Bearer")


@router.post(
    "/campaigns",
    status_code=201,
    tags=["Campaigns"],
    operation_id="create",
    dependencies=[requires("campaigns:write")],
)
def create_campaign(
    request: Request,
    principal: LimitedPrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: w.CreateCampaignRequest,
) -> w.CampaignResponse:
    """Create a campaign; it starts calling inside its slots from its start date."""
    workspace = _workspace(store, principal)
    # One live-campaign rule for every surface (README, "Live campaigns"): the workspace's
    # scheduled and active campaigns, whoever made them, count against one limit.
    scheduling.check_live_limit(store, _limits(request), workspace)
    new = translate.new_campaign(
        body,
        principal.org_id,
        workspace,
        principal.actor,
        request.app.state.pacing_defaults,
    )
    return translate.campaign_response(service.create(store, clock, new))


@router.get(
    "/campaigns/{id}",
    tags=["Campaigns"],
    operation_id="getCampaign",
    dependencies=[requires("campaigns:read")],
)
def get_campaign(id: str, principal: LimitedPrincipalDep, store: StoreDep) -> w.CampaignResponse:
    """A campaign of this account."""
    return translate.campaign_response(_campaign(store, principal, id))


_TARGET = {
    w.CampaignStatusValue.ACTIVE: (
        CampaignAction.RESUME,
        {CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE},
    ),
    w.CampaignStatusValue.PAUSED: (CampaignAction.PAUSE, {CampaignStatus.PAUSED}),
    w.CampaignStatusValue.CANCELLED: (
        CampaignAction.CANCEL,
        {CampaignStatus.CANCELLED, CampaignStatus.ENDED},
    ),
}


@router.post(
    "/campaigns/{id}/status",
    tags=["Campaigns"],
    operation_id="updateStatus",
    dependencies=[requires("campaigns:write")],
)
def update_status(
    request: Request,
    id: str,
    principal: LimitedPrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    status: Annotated[w.CampaignStatusValue, Body(description='"ACTIVE", "PAUSED" or "CANCELLED"')],
) -> w.CampaignResponse:
    """Activate (resume), pause or cancel. Asking for the status it already has changes nothing."""
    campaign = _campaign(store, principal, id)
    action, already = _TARGET[status]
    current = campaign.config.status
    if current in already:
        return translate.campaign_response(campaign)
    if current.is_terminal:
        shown = translate.STATUS[current].value
        raise InvalidTransition(shown, f"set status {status.value} on")
    # a paused campaign resumes only if the workspace has room (the same rule as creating)
    changed = scheduling.act(store, clock, campaign, action, principal.actor, _limits(request))
    return translate.campaign_response(changed)


@router.get(
    "/agents", tags=["Agents"], operation_id="listAgents", dependencies=[requires("agents:read")]
)
def list_agents(
    principal: LimitedPrincipalDep,
    store: StoreDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> w.AgentPage:
    """The account's agents, a page at a time (pages start at 1)."""
    agents, total = store.list_agents(principal.org_id, (page - 1) * size, size)
    return w.AgentPage(
        content=[translate.agent_view(a) for a in agents],
        size=size,
        page=page,
        totalElements=total,
        totalPages=math.ceil(total / size),
    )


@router.get(
    "/agents/{id}", tags=["Agents"], operation_id="getAgent", dependencies=[requires("agents:read")]
)
def get_agent(id: str, principal: LimitedPrincipalDep, store: StoreDep) -> w.Agent:
    return translate.agent_view(accounts.get_agent(store, principal.org_id, id))


@router.patch(
    "/agents/{id}",
    tags=["Agents"],
    operation_id="patchAgent",
    dependencies=[requires("agents:write")],
)
def patch_agent(
    id: str, principal: LimitedPrincipalDep, store: StoreDep, body: w.PatchAgentRequest
) -> w.Agent:
    """Rename an agent, or switch it active, recordable or archived."""
    change = accounts.AgentChange(
        name=body.name, active=body.active, recordable=body.recordable, archived=body.archived
    )
    return translate.agent_view(accounts.change_agent(store, principal.org_id, id, change))


_SORTS = {"created", "duration", "phone", "status"}


@router.get(
    "/calls", tags=["Calls"], operation_id="listCalls", dependencies=[requires("calls:read")]
)
def list_calls(
    principal: LimitedPrincipalDep,
    store: StoreDep,
    agentId: str | None = None,
    phone: str | None = None,
    campaignName: str | None = None,
    from_: Annotated[
        BoundedDate | None, Query(alias="from", description="YYYY-MM-DD, inclusive")
    ] = None,
    to: Annotated[BoundedDate | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    sort: Annotated[
        str, Query(description="property,ASC|DESC (created, duration, phone, status)")
    ] = "created,DESC",
) -> w.CallPage:
    """The account's calls, newest first by default."""
    if (from_ is None) != (to is None):
        raise ValidationFailed.single(
            "from" if from_ is None else "to", None, "from and to go together"
        )
    prop, _, direction = sort.partition(",")
    if prop not in _SORTS or direction.upper() not in ("", "ASC", "DESC"):
        raise ValidationFailed.single(
            "sort",
            sort,
            "must be property,ASC|DESC with property one of " + ", ".join(sorted(_SORTS)),
        )
    where = CallFilter(
        org_id=principal.org_id,
        agent_id=agentId,
        phone=phone,
        campaign_name=campaignName,
        since=datetime.combine(from_, time(), tzinfo=UTC) if from_ else None,
        until=datetime.combine(to + timedelta(days=1), time(), tzinfo=UTC) if to else None,
        sort_by=prop,
        descending=direction.upper() != "ASC",
    )
    calls, total = store.list_calls(where, (page - 1) * size, size)
    return w.CallPage(
        content=[translate.call_view(c) for c in calls],
        size=size,
        page=page,
        totalElements=total,
        totalPages=math.ceil(total / size),
    )


@router.get(
    "/calls/{id}", tags=["Calls"], operation_id="getCall", dependencies=[requires("calls:read")]
)
def get_call(id: str, principal: LimitedPrincipalDep, store: StoreDep) -> w.Call:
    """A call; the id POST /v1/calls returned shows the call before it is dialled too."""
    found = direct_calls.find(store, principal.org_id, id)
    if isinstance(found, direct_calls.Pending):
        return translate.pending_call_view(found)
    return translate.call_view(found)


@router.get(
    "/calls/{id}/transcript",
    tags=["Calls"],
    operation_id="getTranscript",
    dependencies=[requires("calls:read")],
)
def get_transcript(
    id: str, principal: LimitedPrincipalDep, store: StoreDep
) -> list[w.TranscriptEntry]:
    call = calls.get(store, principal.org_id, id)
    return translate.transcript_view(call.transcript)


@router.post(
    "/calls",
    status_code=201,
    tags=["Calls"],
    operation_id="createCall",
    dependencies=[requires("calls:write")],
)
def create_call(
    request: Request,
    principal: LimitedPrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: w.CreateCallRequest,
) -> w.Call:
    """Call one recipient now, outside any campaign (as soon as pacing allows)."""
    pending = direct_calls.place(
        store,
        clock,
        direct_calls.DirectCall(
            org_id=principal.org_id,
            workspace_id=_workspace(store, principal),
            actor=principal.actor,
            agent_id=body.agentId,
            agent_field="agentId",
            phone=body.recipient.phone,
            context=body.recipient.context or {},
        ),
        request.app.state.pacing_defaults,
    )
    return translate.pending_call_view(pending)
