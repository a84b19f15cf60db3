"""Native endpoints for compliance: calling policies, the do-not-call list, the pre-dial
hook, and why each contact waits (its reason), counted per campaign."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ringcast.api.deps import (
    ClockDep,
    PrincipalDep,
    ScopedRoute,
    SettingsDep,
    StoreDep,
    WorkspaceCampaignDep,
    requires,
)
from ringcast.core.compliance import POLICIES, REASONS, effective_policy_name
from ringcast.core.errors import NotFound
from ringcast.core.model import Contact, PredialHook
from ringcast.records import DoNotCall
from ringcast.services import compliance as service

router = APIRouter(prefix="/ringcast/v1", tags=["compliance"], route_class=ScopedRoute)

PolicyName = str


class PolicyIn(BaseModel):
    policy: PolicyName = Field(description=f"One of {', '.join(POLICIES)}")


class PolicyOut(BaseModel):
    policy: PolicyName


@router.get(
    "/account/calling-policy",
    operation_id="getCallingPolicy",
    dependencies=[requires("campaigns:read")],
)
def get_calling_policy(principal: PrincipalDep, store: StoreDep) -> PolicyOut:
    """The organization's calling-hours policy (campaigns may override it)."""
    return PolicyOut(policy=service.calling_policy(store, principal.org_id))


@router.put(
    "/account/calling-policy",
    operation_id="setCallingPolicy",
    dependencies=[requires("campaigns:write")],
)
def set_calling_policy(principal: PrincipalDep, store: StoreDep, body: PolicyIn) -> PolicyOut:
    """Choose the organization's calling-hours policy: fr, us, in or none."""
    return PolicyOut(policy=service.set_calling_policy(store, principal.org_id, body.policy))


class PredialIn(BaseModel):
    url: str = Field(description="POSTed before each dial; must answer true within the timeout")
    timeout_ms: int = Field(default=2000, ge=100, le=10_000)
    retry_after_s: int = Field(
        default=900, ge=1, le=86_400, description="How long a refused contact waits"
    )


class CampaignComplianceIn(BaseModel):
    policy: PolicyName | None = Field(
        default=None, description="Overrides the organization's policy; null: use it"
    )
    predial: PredialIn | None = None


class CampaignComplianceOut(BaseModel):
    policy: PolicyName | None
    effective_policy: PolicyName
    predial: PredialIn | None


def _compliance_view(store: Any, campaign: Any) -> CampaignComplianceOut:
    org = store.get_organization(campaign.org_id)
    hook = campaign.config.predial
    return CampaignComplianceOut(
        policy=campaign.config.policy,
        effective_policy=effective_policy_name(
            campaign.config.policy, org.calling_policy if org else None
        ),
        predial=None
        if hook is None
        else PredialIn(
            url=hook.url,
            timeout_ms=int(hook.timeout.total_seconds() * 1000),
            retry_after_s=int(hook.retry_after.total_seconds()),
        ),
    )


@router.get(
    "/campaigns/{campaign_id}/compliance",
    operation_id="getCampaignCompliance",
    dependencies=[requires("campaigns:read")],
)
def get_campaign_compliance(
    campaign: WorkspaceCampaignDep, store: StoreDep
) -> CampaignComplianceOut:
    return _compliance_view(store, campaign)


@router.put(
    "/campaigns/{campaign_id}/compliance",
    operation_id="setCampaignCompliance",
    dependencies=[requires("campaigns:write")],
)
def set_campaign_compliance(
    campaign: WorkspaceCampaignDep,
    store: StoreDep,
    settings: SettingsDep,
    body: CampaignComplianceIn,
) -> CampaignComplianceOut:
    """Override the calling policy for this campaign, and set or clear its pre-dial hook."""
    hook = None
    if body.predial is not None:
        hook = PredialHook(
            body.predial.url,
            timeout=timedelta(milliseconds=body.predial.timeout_ms),
            retry_after=timedelta(seconds=body.predial.retry_after_s),
        )
    updated = service.set_campaign_compliance(
        store, campaign, body.policy, hook, allow_private=settings.webhooks_allow_private
    )
    return _compliance_view(store, updated)


class DoNotCallEntry(BaseModel):
    phone: str
    source: str
    created_at: datetime


def _entry(e: DoNotCall) -> DoNotCallEntry:
    return DoNotCallEntry(phone=e.phone, source=e.source, created_at=e.created_at)


class DoNotCallPage(BaseModel):
    items: list[DoNotCallEntry]
    total: int
    offset: int
    limit: int


class NumbersIn(BaseModel):
    phones: list[str] = Field(min_length=1, max_length=10_000, description="E.164 numbers")


class AddedOut(BaseModel):
    added: int = Field(description="Numbers newly listed")
    already_listed: int


@router.get("/do-not-call", operation_id="listDoNotCall", dependencies=[requires("campaigns:read")])
def list_do_not_call(
    principal: PrincipalDep,
    store: StoreDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DoNotCallPage:
    items, total = store.list_do_not_call(principal.org_id, offset, limit)
    return DoNotCallPage(items=[_entry(e) for e in items], total=total, offset=offset, limit=limit)


@router.get(
    "/do-not-call/{phone}", operation_id="getDoNotCall", dependencies=[requires("campaigns:read")]
)
def get_do_not_call(phone: str, principal: PrincipalDep, store: StoreDep) -> DoNotCallEntry:
    """The number's entry; 404 when it is not listed."""
    number = service.e164(phone)
    entry = store.do_not_call_entry(principal.org_id, number)
    if entry is None:
        raise NotFound("do-not-call entry", number)
    return _entry(entry)


@router.post(
    "/do-not-call", operation_id="addDoNotCall", dependencies=[requires("campaigns:write")]
)
def add_do_not_call(
    principal: PrincipalDep, store: StoreDep, clock: ClockDep, body: NumbersIn
) -> AddedOut:
    """List numbers; from the next plan on, they are never dialled by any campaign."""
    added = service.add_numbers(store, principal.org_id, body.phones, "api", clock.now())
    return AddedOut(added=added, already_listed=len(set(body.phones)) - added)


@router.delete(
    "/do-not-call/{phone}",
    status_code=204,
    operation_id="removeDoNotCall",
    dependencies=[requires("campaigns:write")],
)
def remove_do_not_call(phone: str, principal: PrincipalDep, store: StoreDep) -> Response:
    number = service.e164(phone)
    if not store.remove_do_not_call(principal.org_id, number):
        raise NotFound("do-not-call entry", number)
    return Response(status_code=204)


class RejectedLine(BaseModel):
    line: int
    value: str
    reason: str


class ImportOut(BaseModel):
    read: int
    added: int
    already_listed: int
    rejected: list[RejectedLine]


@router.post(
    "/do-not-call/import",
    operation_id="importDoNotCall",
    openapi_extra={
        "requestBody": {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "One number per line (or a CSV whose first column is the number)",
        }
    },
    dependencies=[requires("campaigns:write")],
)
async def import_do_not_call(
    request: Request, principal: PrincipalDep, store: StoreDep, clock: ClockDep
) -> ImportOut:
    """Import a file of numbers, streamed: it is spooled to disk, then listed in batches."""
    with tempfile.TemporaryFile() as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        report = await run_in_threadpool(
            service.import_numbers,
            store,
            principal.org_id,
            service.lines_of(iter(lambda: spool.read(1 << 16), b"")),
            clock.now(),
        )
    return ImportOut(
        read=report.read,
        added=report.added,
        already_listed=report.already_listed,
        rejected=[RejectedLine(line=n, value=v, reason=r) for n, v, r in report.rejected[:1000]],
    )


class ContactOut(BaseModel):
    id: str
    phone: str
    state: str
    reason: str | None = Field(description="Why it waits, or why it was skipped")
    next_due_at: datetime | None
    attempts: int
    timezone: str | None


def _contact(k: Contact) -> ContactOut:
    return ContactOut(
        id=k.id,
        phone=k.phone,
        state=k.state.value,
        reason=k.reason,
        next_due_at=k.next_due_at,
        attempts=k.attempts,
        timezone=k.zone,
    )


class ContactPage(BaseModel):
    items: list[ContactOut]
    total: int
    offset: int
    limit: int


@router.get(
    "/campaigns/{campaign_id}/contacts",
    operation_id="listCampaignContacts",
    dependencies=[requires("campaigns:read")],
)
def list_campaign_contacts(
    campaign: WorkspaceCampaignDep,
    store: StoreDep,
    reason: Annotated[str | None, Query(description="Only contacts with this reason")] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ContactPage:
    items, total = store.list_contacts(campaign.id, reason, offset, limit)
    return ContactPage(items=[_contact(k) for k in items], total=total, offset=offset, limit=limit)


class FiguresOut(BaseModel):
    contacts: dict[str, int] = Field(description="Contacts by state")
    reasons: dict[str, int] = Field(
        description=f"Waiting or skipped contacts by reason: {', '.join(REASONS)}, ..."
    )


@router.get(
    "/campaigns/{campaign_id}/figures",
    operation_id="getCampaignFigures",
    dependencies=[requires("campaigns:read")],
)
def get_campaign_figures(campaign: WorkspaceCampaignDep, store: StoreDep) -> FiguresOut:
    states, reasons = service.figures(store, campaign.id)
    return FiguresOut(contacts=states, reasons=reasons)


class ContactPatch(BaseModel):
    timezone: str | None = Field(description="IANA zone of the person; null: from the number")


@router.patch(
    "/contacts/{contact_id}",
    operation_id="updateContact",
    dependencies=[requires("campaigns:write")],
)
def update_contact(
    contact_id: str, principal: PrincipalDep, store: StoreDep, clock: ClockDep, body: ContactPatch
) -> ContactOut:
    """Give a contact its zone; one waiting for want of a zone becomes due at once."""
    updated = service.set_contact_zone(
        store, principal.org_id, principal.workspace_id, contact_id, body.timezone, clock.now()
    )
    return _contact(updated)
