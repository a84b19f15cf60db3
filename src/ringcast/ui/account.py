"""The account pages: the do-not-call list, the calling policy, the connections with what
they carry now, and the webhook deliveries.

Every page is the signed-in key's organization's, whatever the URL says, and reads and
writes through the services the native API uses (``services.compliance``,
``services.connections``, ``services.webhooks``): the same checks, the same refusals.
Every form posts with the CSRF token (``CsrfChecked``) and, after a change, redirects
back to its page (post/redirect/get) with what happened in the query string, as codes
and counts the page words itself (never text from the URL).

A do-not-call import is the API's import (``compliance.import_numbers``): the uploaded
file is spooled to disk by the form parser and listed in batches. Sent by the page's
script (``X-Progress: ndjson``), the answer is a stream of JSON lines, one per batch
(bytes read of the file's total, numbers added so far) then the report, which the
script shows as a progress bar; sent without script, the page comes back with the
report once the import is done. The stream is the request's own answer, so it works
with any number of server processes, with no job state kept between requests.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from ringcast.api.auth import Principal
from ringcast.clock import Clock
from ringcast.core.compliance import POLICIES, CallingPolicy
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.services import compliance, connections, webhooks
from ringcast.ui.session import CsrfChecked, UiPrincipal, UiStore, ui_principal
from ringcast.ui.templating import NAV, render

router = APIRouter(prefix="/ui/account", include_in_schema=False)
NAV.append(("ui_account", "Account"))

NUMBERS_PER_PAGE = 50
DELIVERIES_PER_PAGE = 25
MAX_PAGE = 100_000
#: the most numbers one "add" form takes (the API's own limit per request)
MAX_ADD = 10_000
#: rejected lines an import shows (the API shows 1,000)
SHOWN_REJECTED = 100
#: the zone account-wide times are written in (an organization has no zone of its own)
ACCOUNT_ZONE = "UTC"
#: account pages, in the order of their tabs: (route name, label)
TABS = [
    ("ui_account_dnc", "Do-not-call list"),
    ("ui_account_policy", "Calling policy"),
    ("ui_account_connections", "Connections"),
    ("ui_account_webhooks", "Webhook deliveries"),
]


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _page(
    request: Request,
    principal: Principal,
    template: str,
    tab: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        template,
        principal,
        status_code=status_code,
        title=dict(TABS)[tab],
        active="ui_account",
        tabs=TABS,
        tab=tab,
        zone=ACCOUNT_ZONE,
        **context,
    )


def _back(route: str, request: Request, **query: Any) -> RedirectResponse:
    shown = {k: v for k, v in query.items() if v not in (None, "")}
    target = str(request.url_for(route).path)
    return RedirectResponse(target + (f"?{urlencode(shown)}" if shown else ""), status_code=303)


@router.get("", name="ui_account", dependencies=[Depends(ui_principal)])
def account_root(request: Request) -> Response:
    """The account's first page."""
    return _back("ui_account_dnc", request)


# --- do-not-call -------------------------------------------------------------------------


@router.get("/do-not-call", name="ui_account_dnc", response_class=HTMLResponse)
def do_not_call_page(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    search: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    added: Annotated[int | None, Query(ge=0)] = None,
    already: Annotated[int | None, Query(ge=0)] = None,
    removed: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The organization's list, searched by digits and paged, with the add, remove and
    import forms."""
    entries, total = compliance.do_not_call_page(
        store, principal.org_id, search, (page - 1) * NUMBERS_PER_PAGE, NUMBERS_PER_PAGE
    )
    return _page(
        request,
        principal,
        "account_dnc.html",
        "ui_account_dnc",
        entries=entries,
        total=total,
        search=search or "",
        page=page,
        pages=max(1, -(-total // NUMBERS_PER_PAGE)),
        added=added,
        already=already,
        removed=removed,
    )


@router.post("/do-not-call", dependencies=[CsrfChecked], response_class=HTMLResponse)
def add_to_do_not_call(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    phones: Annotated[str, Form(max_length=400_000)] = "",
) -> Response:
    """List the numbers typed (one per line, or separated by commas), all or none."""
    given = [p.strip() for p in phones.replace(",", "\n").splitlines() if p.strip()]
    problem = None
    if not given:
        problem = "Type at least one number."
    elif len(given) > MAX_ADD:
        problem = f"At most {MAX_ADD:,} numbers at once; import a file for more."
    if problem is None:
        try:
            new = compliance.add_numbers(
                store, principal.org_id, given, "dashboard", _clock(request).now()
            )
        except ValidationFailed as exc:
            e = exc.errors[0]
            problem = f"{e.rejected_value!s}: {e.message}. Nothing was added."
        else:
            return _back("ui_account_dnc", request, added=new, already=len(set(given)) - new)
    return _dnc_page(request, principal, store, 422, phones=phones, add_error=problem)


@router.post("/do-not-call/remove", dependencies=[CsrfChecked])
def remove_from_do_not_call(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    phone: Annotated[str, Form(max_length=40)] = "",
    search: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Take a number off the list (one not listed, or another organization's: nothing)."""
    try:
        number = compliance.e164(phone)
    except ValidationFailed:
        return _back("ui_account_dnc", request, search=search)
    gone = store.remove_do_not_call(principal.org_id, number)
    return _back("ui_account_dnc", request, search=search, removed=number if gone else None)


@router.post("/do-not-call/import", dependencies=[CsrfChecked], response_model=None)
async def import_do_not_call(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import a file of numbers: a stream of progress lines for the page's script, else
    the page with the report."""
    if file is None or not file.filename:
        return _dnc_page(request, principal, store, 422, import_error="Choose a file to import.")
    job = _Import(store, principal.org_id, file.file, file.size, _clock(request))
    if request.headers.get("x-progress") == "ndjson":
        return StreamingResponse(job.stream(), media_type="application/x-ndjson")
    report = await asyncio.to_thread(job.run)
    return _dnc_page(request, principal, store, 200, report=report)


def _dnc_page(
    request: Request, principal: Principal, store: UiStore, status_code: int, **context: Any
) -> Response:
    """The list's first page after a form that could not be done, or an import's report."""
    entries, total = compliance.do_not_call_page(store, principal.org_id, None, 0, NUMBERS_PER_PAGE)
    return _page(
        request,
        principal,
        "account_dnc.html",
        "ui_account_dnc",
        status_code,
        entries=entries,
        total=total,
        search="",
        page=1,
        pages=max(1, -(-total // NUMBERS_PER_PAGE)),
        **context,
    )


class _Import:
    """One import of an uploaded file, run in a thread, telling how far it got."""

    def __init__(
        self, store: UiStore, org_id: str, spool: IO[bytes], size: int | None, clock: Clock
    ) -> None:
        self.store = store
        self.org_id = org_id
        self.spool = spool
        self.clock = clock
        spool.seek(0, 2)
        self.total = size if size is not None else spool.tell()
        spool.seek(0)
        self.done_bytes = 0
        self.listed = 0

    def _chunks(self) -> Iterator[bytes]:
        while chunk := self.spool.read(1 << 16):
            self.done_bytes += len(chunk)
            yield chunk

    def run(self, progress: Any = None) -> dict[str, Any]:
        def counted(n: int) -> None:
            self.listed += n
            if progress is not None:
                progress()

        report = compliance.import_numbers(
            self.store,
            self.org_id,
            compliance.lines_of(self._chunks()),
            self.clock.now(),
            counted,
            source="dashboard",
        )
        return {
            "read": report.read,
            "added": report.added,
            "already_listed": report.already_listed,
            "rejected": len(report.rejected),
            "rejected_lines": [
                {"line": n, "value": v, "reason": r} for n, v, r in report.rejected[:SHOWN_REJECTED]
            ],
        }

    def _progress(self) -> dict[str, Any]:
        return {"done": self.done_bytes, "total": self.total, "listed": self.listed}

    async def stream(self) -> AsyncIterator[bytes]:
        """JSON lines: ``{"done", "total", "listed"}`` after each batch, then
        ``{"report": ...}`` (or ``{"error": ...}``)."""
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        outcome: dict[str, Any] = {}

        def tell() -> None:
            loop.call_soon_threadsafe(updates.put_nowait, self._progress())

        def work() -> None:
            try:
                outcome["report"] = self.run(tell)
            except Exception as exc:  # shown to the person; the import stops there
                outcome["error"] = f"The import stopped: {type(exc).__name__}"
            finally:
                loop.call_soon_threadsafe(updates.put_nowait, None)

        threading.Thread(target=work, name="dnc-import", daemon=True).start()
        yield _line(self._progress())
        while (update := await updates.get()) is not None:
            yield _line(update)
        yield _line(outcome)


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value) + "\n").encode()


# --- calling policy ----------------------------------------------------------------------


def describe(policy: CallingPolicy) -> str:
    """A policy in a sentence: its hours, days, holidays, and caps."""
    if policy.name == "none":
        return "No calling hours of its own and no cap: each campaign's own window applies."
    parts = []
    if policy.slots:
        hours = ", ".join(f"{s.start:%H:%M}-{s.end:%H:%M}" for s in policy.slots)
        parts.append(f"calls between {hours} in the called person's zone")
    if len(policy.days) < 7:
        names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        parts.append("on " + ", ".join(names[d] for d in sorted(policy.days)))
    if policy.holiday_country:
        parts.append(f"never on {policy.holiday_country} public holidays")
    if policy.stricter:
        parts.append("stricter hours in " + ", ".join(s for s, _ in policy.stricter))
    if policy.max_attempts is not None:
        parts.append(
            f"at most {policy.max_attempts} attempts per number in {policy.period.days} days"
        )
    if policy.refusal_cooldown is not None:
        parts.append(f"no call for {policy.refusal_cooldown.days} days after a refusal")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


@router.get("/policy", name="ui_account_policy", response_class=HTMLResponse)
def policy_page(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    saved: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    current = compliance.calling_policy(store, principal.org_id)
    return _page(
        request,
        principal,
        "account_policy.html",
        "ui_account_policy",
        current=current,
        policies=[(name, describe(p)) for name, p in POLICIES.items()],
        saved=saved in POLICIES and saved == current,
    )


@router.post("/policy", dependencies=[CsrfChecked])
def set_policy(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    policy: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Choose the organization's calling policy, through the native API's service."""
    try:
        chosen = compliance.set_calling_policy(store, principal.org_id, policy)
    except ValidationFailed as exc:
        e = exc.errors[0]
        return _page(
            request,
            principal,
            "account_policy.html",
            "ui_account_policy",
            422,
            current=compliance.calling_policy(store, principal.org_id),
            policies=[(name, describe(p)) for name, p in POLICIES.items()],
            error=f"{e.field} {e.rejected_value!r}: {e.message}",
        )
    return _back("ui_account_policy", request, saved=chosen)


# --- connections -------------------------------------------------------------------------


def _loads(request: Request, store: UiStore, principal: Principal) -> dict[str, Any]:
    return {
        "loads": connections.live_loads(store, principal.org_id, _clock(request).now()),
        "window_s": int(connections.LOAD_WINDOW.total_seconds()),
    }


@router.get("/connections", name="ui_account_connections", response_class=HTMLResponse)
def connections_page(request: Request, principal: UiPrincipal, store: UiStore) -> Response:
    """The organization's connections, each with its live load against its limits."""
    return _page(
        request,
        principal,
        "account_connections.html",
        "ui_account_connections",
        **_loads(request, store, principal),
    )


@router.get("/connections/live", name="ui_account_connections_live", response_class=HTMLResponse)
def connections_live(request: Request, principal: UiPrincipal, store: UiStore) -> Response:
    """The connections table alone, polled by htmx."""
    return render(
        request,
        "account_connections_table.html",
        principal,
        **_loads(request, store, principal),
    )


# --- webhook deliveries ------------------------------------------------------------------


@router.get("/webhooks", name="ui_account_webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request,
    principal: UiPrincipal,
    store: UiStore,
    status: Annotated[str | None, Query(max_length=16)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    retried: Annotated[str | None, Query(max_length=40)] = None,
    error: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The organization's deliveries, newest first, filtered by status; failed ones have
    a Retry button."""
    wanted = status if status in webhooks.DELIVERY_STATUSES else None
    items, total = webhooks.deliveries(
        store, principal.org_id, wanted, (page - 1) * DELIVERIES_PER_PAGE, DELIVERIES_PER_PAGE
    )
    zones: dict[str, str] = {}
    for item in items:
        if item.campaign_id and item.campaign_id not in zones:
            campaign = store.get_campaign(item.campaign_id)
            if campaign is not None and campaign.org_id == principal.org_id:
                zones[item.campaign_id] = campaign.config.schedule.weekly.zone
    return _page(
        request,
        principal,
        "account_webhooks.html",
        "ui_account_webhooks",
        items=items,
        total=total,
        status=wanted,
        statuses=webhooks.DELIVERY_STATUSES,
        page=page,
        pages=max(1, -(-total // DELIVERIES_PER_PAGE)),
        zones=zones,
        hook=webhooks.get_account_webhook(store, principal.org_id),
        retried=retried,
        error=error,
    )


@router.post("/webhooks/{outbox_id}/retry", dependencies=[CsrfChecked])
def retry_delivery(
    request: Request,
    outbox_id: str,
    principal: UiPrincipal,
    store: UiStore,
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Send a failed delivery again (another organization's reads as unknown)."""
    try:
        webhooks.retry_delivery(store, principal.org_id, outbox_id, _clock(request).now())
    except NotFound:
        return _back("ui_account_webhooks", request, status=status, error="unknown")
    except ValidationFailed:
        return _back("ui_account_webhooks", request, status=status, error="not_failed")
    return _back("ui_account_webhooks", request, status=status, retried=outbox_id)
