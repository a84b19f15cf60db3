"""The campaigns list, one campaign's page with its live parts, and its actions.

The campaign page is one server-rendered document; its live parts are fragments htmx
polls (``/live`` every 3 s for status, progress, figures and buttons; ``/calls`` every
5 s while the first page of calls shows); the charts fetch ``/charts.json``
(``ui.charts``). Pause, resume and cancel are plain POST forms (they work without
script), each through ``services.campaigns.act`` or, for a Sarvam campaign,
``services.scheduling.act``: the transition rules and the workspace's live limit are the
APIs' own. Cancel first shows a confirmation page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ringcast.api.auth import Principal
from ringcast.clock import Clock
from ringcast.config import Settings
from ringcast.core.compliance import REASONS
from ringcast.core.errors import InvalidTransition, NotFound, RingcastError
from ringcast.core.model import ContactState
from ringcast.core.states import CampaignAction, CampaignStatus
from ringcast.readouts import ContactSearch
from ringcast.records import Campaign, Dialect
from ringcast.services import campaigns, dashboard, scheduling
from ringcast.ui.session import CsrfChecked, UiPrincipal, UiStore
from ringcast.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)

CAMPAIGNS_PER_PAGE = 25
CONTACTS_PER_PAGE = 50
CALLS_PER_PAGE = 25
STATUSES = [s.value for s in CampaignStatus]
STATES = [s.value for s in ContactState]
MAX_PAGE = 100_000


class PageNotFound(Exception):
    """A campaign this key cannot see: the same page whether it exists elsewhere or not."""


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def campaign_of(store: UiStore, principal: Principal, campaign_id: str) -> Campaign:
    """The principal's campaign, or ``PageNotFound`` (another tenant's reads as unknown)."""
    try:
        return campaigns.get(store, campaign_id, principal.org_id, principal.workspace_id)
    except NotFound:
        raise PageNotFound from None


async def page_not_found(request: Request, _exc: Exception) -> Response:
    return render(
        request,
        "error.html",
        getattr(request.state, "ui_principal", None),
        status_code=404,
        title="Not found",
        message="There is no such campaign in this account.",
    )


@router.get("/", name="ui_campaigns", response_class=HTMLResponse)
def campaigns_list(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    status: str | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """Every campaign of the key's workspace, whichever API made it, newest first."""
    wanted = status if status in STATUSES else None
    rows, total = dashboard.campaign_rows(
        store,
        principal.workspace_id,
        wanted,
        (page - 1) * CAMPAIGNS_PER_PAGE,
        CAMPAIGNS_PER_PAGE,
    )
    pages = max(1, -(-total // CAMPAIGNS_PER_PAGE))
    return render(
        request,
        "campaigns.html",
        principal,
        title="Campaigns",
        active="ui_campaigns",
        rows=rows,
        total=total,
        status=wanted,
        statuses=STATUSES,
        page=page,
        pages=pages,
    )


def _contact_search(
    campaign: Campaign,
    state: str | None,
    reason: str | None,
    number: str | None,
    after: str | None,
) -> ContactSearch:
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    return ContactSearch(
        campaign.id,
        state=state if state in STATES else None,
        reason=reason or None,
        number=digits or None,
        after=after or None,
        limit=CONTACTS_PER_PAGE,
    )


def _campaign_context(
    store: UiStore, campaign: Campaign, search: ContactSearch, calls_page: int
) -> dict[str, Any]:
    seen = dashboard.overview(store, campaign)
    row, states, reasons = seen.row, seen.states, seen.reasons
    contacts, next_after = dashboard.contacts_page(store, search)
    calls = store.campaign_calls(campaign.id, (calls_page - 1) * CALLS_PER_PAGE, CALLS_PER_PAGE + 1)
    return {
        "campaign": campaign,
        "row": row,
        "zone": row.zone,
        "states": states,
        "reasons": reasons,
        "contacts": contacts,
        "next_after": next_after,
        "search": search,
        "known_states": STATES,
        "known_reasons": sorted(set(REASONS) | {r for r, n in reasons.items() if n}),
        "calls": calls[:CALLS_PER_PAGE],
        "calls_page": calls_page,
        "more_calls": len(calls) > CALLS_PER_PAGE,
    }


@router.get("/campaigns/{campaign_id}", name="ui_campaign", response_class=HTMLResponse)
def campaign_page(
    request: Request,
    campaign_id: str,
    principal: UiPrincipal,
    store: UiStore,
    state: str | None = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    number: Annotated[str | None, Query(max_length=40)] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
    calls_page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    error: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    campaign = campaign_of(store, principal, campaign_id)
    search = _contact_search(campaign, state, reason, number, after)
    return render(
        request,
        "campaign.html",
        principal,
        title=campaign.name,
        active="ui_campaigns",
        error=error,
        **_campaign_context(store, campaign, search, calls_page),
    )


@router.get("/campaigns/{campaign_id}/live", name="ui_campaign_live", response_class=HTMLResponse)
def campaign_live(
    request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore
) -> Response:
    """The page's live block (status, progress, figures, buttons), polled by htmx."""
    campaign = campaign_of(store, principal, campaign_id)
    seen = dashboard.overview(store, campaign)
    row, states, reasons = seen.row, seen.states, seen.reasons
    return render(
        request,
        "campaign_live.html",
        principal,
        campaign=campaign,
        row=row,
        zone=row.zone,
        states=states,
        reasons=reasons,
    )


@router.get("/campaigns/{campaign_id}/calls", name="ui_campaign_calls", response_class=HTMLResponse)
def campaign_calls(
    request: Request,
    campaign_id: str,
    principal: UiPrincipal,
    store: UiStore,
    calls_page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The calls table, polled by htmx while its first page shows."""
    campaign = campaign_of(store, principal, campaign_id)
    calls = store.campaign_calls(campaign.id, (calls_page - 1) * CALLS_PER_PAGE, CALLS_PER_PAGE + 1)
    return render(
        request,
        "campaign_calls.html",
        principal,
        campaign=campaign,
        zone=campaign.config.schedule.weekly.zone,
        calls=calls[:CALLS_PER_PAGE],
        calls_page=calls_page,
        more_calls=len(calls) > CALLS_PER_PAGE,
    )


@router.get(
    "/campaigns/{campaign_id}/cancel", name="ui_campaign_cancel", response_class=HTMLResponse
)
def confirm_cancel(
    request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore
) -> Response:
    """Cancelling cannot be undone: this page asks first."""
    campaign = campaign_of(store, principal, campaign_id)
    row = dashboard.overview(store, campaign).row
    return render(
        request,
        "cancel.html",
        principal,
        title=f"Cancel {campaign.name}?",
        active="ui_campaigns",
        campaign=campaign,
        row=row,
    )


def _act(
    request: Request, store: UiStore, principal: Principal, campaign_id: str, action: str
) -> Response:
    campaign = campaign_of(store, principal, campaign_id)
    clock = _clock(request)
    todo = CampaignAction(action)
    target = f"/ui/campaigns/{campaign.id}"
    try:
        if campaign.dialect is Dialect.SARVAM:
            limits = scheduling.Limits.of(_settings(request))
            scheduling.act(store, clock, campaign, todo, principal.actor, limits)
        else:
            campaigns.act(store, clock, campaign, todo, principal.actor)
    except (InvalidTransition, RingcastError) as exc:
        message = urlencode({"error": f"Could not {action}: {exc}"})
        return RedirectResponse(f"{target}?{message}", status_code=303)
    return RedirectResponse(target, status_code=303)


@router.post("/campaigns/{campaign_id}/pause", dependencies=[CsrfChecked])
def pause(request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore) -> Response:
    return _act(request, store, principal, campaign_id, "pause")


@router.post("/campaigns/{campaign_id}/resume", dependencies=[CsrfChecked])
def resume(request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore) -> Response:
    return _act(request, store, principal, campaign_id, "resume")


@router.post("/campaigns/{campaign_id}/cancel", dependencies=[CsrfChecked])
def cancel(request: Request, campaign_id: str, principal: UiPrincipal, store: UiStore) -> Response:
    return _act(request, store, principal, campaign_id, "cancel")
