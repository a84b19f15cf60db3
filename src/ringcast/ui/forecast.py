"""Forecast before launch: a create body (Volubile's or Sarvam's) and its contacts in, the
forecast ``ringcast simulate`` prints out, as a page with charts. Nothing is created.

The inputs are read by ``api.campaign_inputs``, the module ``ringcast simulate`` reads
them with, and the run is ``forecast.from_new_campaign`` on its own in-memory store, so
the page and the command give the same figures for the same body, contacts, start,
outcome mix and seed. A pasted text and an uploaded file are both accepted for the body
and for the contacts (the file wins when both are given); with no contacts the body's
own recipients are called, or as many generated numbers as asked for.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ringcast import forecast
from ringcast.api import campaign_inputs as inputs
from ringcast.api.auth import Principal
from ringcast.clock import Clock
from ringcast.core.compliance import POLICIES
from ringcast.core.errors import ValidationFailed
from ringcast.core.pacing import PacingLimits
from ringcast.gateways.simulator import DEFAULT_MIX, MAX_SEED, OutcomeModel
from ringcast.services import dashboard
from ringcast.services.campaigns import NewCampaign, Recipient
from ringcast.ui.session import CsrfChecked, UiPrincipal
from ringcast.ui.templating import NAV, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV.append(("ui_forecast", "Forecast"))

#: the most contacts a forecast from the page may call (the command line has no cap)
MAX_CONTACTS = 50_000
#: the most characters of a pasted body or contact list
MAX_TEXT = 4_000_000


class InputProblem(Exception):
    """What the person gave cannot be forecast; the message says which field and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Wanted:
    """The form as the person filled it, given back to them with the result."""

    campaign: str = ""
    contacts: str = ""
    generated: str = ""
    start: str = ""
    outcomes: str = DEFAULT_MIX
    seed: str = "0"
    policy: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _pacing_defaults(request: Request) -> PacingLimits:
    defaults: PacingLimits = request.app.state.pacing_defaults
    return defaults


def _page(
    request: Request,
    principal: Principal,
    wanted: Wanted,
    result: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "forecast.html",
        principal,
        status_code=status_code,
        title="Forecast",
        active="ui_forecast",
        wanted=wanted,
        result=result,
        policies=list(POLICIES),
        max_contacts=MAX_CONTACTS,
    )


@router.get("/forecast", name="ui_forecast", response_class=HTMLResponse)
def forecast_page(request: Request, principal: UiPrincipal) -> Response:
    now = _clock(request).now().astimezone(UTC).replace(second=0, microsecond=0)
    return _page(request, principal, Wanted(start=now.isoformat()))


@router.post("/forecast", dependencies=[CsrfChecked], response_class=HTMLResponse)
async def run_forecast(
    request: Request,
    principal: UiPrincipal,
    campaign: Annotated[str, Form(max_length=MAX_TEXT)] = "",
    campaign_file: Annotated[UploadFile | None, File()] = None,
    contacts: Annotated[str, Form(max_length=MAX_TEXT)] = "",
    contacts_file: Annotated[UploadFile | None, File()] = None,
    generated: Annotated[str, Form(max_length=12)] = "",
    start: Annotated[str, Form(max_length=64)] = "",
    outcomes: Annotated[str, Form(max_length=300)] = DEFAULT_MIX,
    seed: Annotated[str, Form(max_length=24)] = "0",
    policy: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Run the forecast on what the form holds; the page comes back with it, or with the
    fields refused and why (422)."""
    wanted = Wanted(
        campaign=campaign,
        contacts=contacts,
        generated=generated.strip(),
        start=start.strip(),
        outcomes=outcomes.strip() or DEFAULT_MIX,
        seed=seed.strip() or "0",
        policy=policy.strip(),
    )
    try:
        wanted.campaign = await _text("campaign", campaign_file) or campaign
        wanted.contacts = await _text("contacts", contacts_file) or contacts
        result = await _run(wanted, _pacing_defaults(request))
    except InputProblem as problem:
        wanted.errors[problem.field] = str(problem)
        return _page(request, principal, wanted, status_code=422)
    return _page(request, principal, wanted, result)


async def _text(name: str, upload: UploadFile | None) -> str:
    """An uploaded file's text ("" when none was chosen)."""
    if upload is None or not upload.filename:
        return ""
    data = await upload.read(MAX_TEXT + 1)
    if len(data) > MAX_TEXT:
        raise InputProblem(name, f"{upload.filename} is over {MAX_TEXT:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputProblem(name, f"{upload.filename} is not UTF-8 text") from None


async def _run(wanted: Wanted, defaults: PacingLimits) -> dict[str, Any]:
    new = _campaign(wanted, defaults)
    recipients = _recipients(wanted, new)
    started = _instant("start", wanted.start)
    model = _model(wanted)
    result = await run_in_threadpool(forecast.from_new_campaign, new, recipients, model, started)
    return view(new.name, result)


def _campaign(wanted: Wanted, defaults: PacingLimits) -> NewCampaign:
    if not wanted.campaign.strip():
        raise InputProblem("campaign", "Paste a campaign body or choose its file.")
    try:
        body = json.loads(wanted.campaign)
    except json.JSONDecodeError as exc:
        raise InputProblem("campaign", f"The campaign body is not JSON: {exc}") from None
    try:
        new = inputs.new_campaign(body, defaults)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']} "
            f"(got {json.dumps(e.get('input'), default=str)[:80]})"
            for e in exc.errors()[:5]
        )
        raise InputProblem("campaign", problems) from None
    except ValidationFailed as exc:
        raise InputProblem(
            "campaign", "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        ) from None
    except (inputs.InputError, ValueError) as exc:
        raise InputProblem("campaign", str(exc)) from None
    if wanted.policy:
        if wanted.policy not in POLICIES:
            raise InputProblem(
                "policy", f"policy {wanted.policy!r}: must be one of {', '.join(POLICIES)}"
            )
        new = replace(new, config=replace(new.config, policy=wanted.policy))
    return new


def _recipients(wanted: Wanted, new: NewCampaign) -> list[Recipient]:
    try:
        if wanted.contacts.strip():
            lines = io.StringIO(wanted.contacts, newline="")
            people = list(inputs.read_csv_lines(lines, "contacts"))
        elif wanted.generated:
            if not wanted.generated.isdigit() or not 1 <= int(wanted.generated) <= MAX_CONTACTS:
                raise InputProblem(
                    "generated",
                    f"generated contacts {wanted.generated!r}: a whole number from 1 to "
                    f"{MAX_CONTACTS:,}",
                )
            people = inputs.generated(int(wanted.generated), new.config.schedule.weekly.zone)
        else:
            people = list(new.recipients)
    except inputs.InputError as exc:
        raise InputProblem("contacts", str(exc)) from None
    if not people:
        raise InputProblem(
            "contacts",
            "No contacts: the body has no recipients; paste a CSV with a 'phone' column or "
            "ask for generated contacts.",
        )
    if len(people) > MAX_CONTACTS:
        raise InputProblem(
            "contacts",
            f"{len(people):,} contacts: the page forecasts at most {MAX_CONTACTS:,} "
            "(ringcast simulate has no such limit)",
        )
    return people


def _instant(name: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputProblem(name, f"{name} {text!r} is not an ISO 8601 moment") from None
    if at.tzinfo is None:
        raise InputProblem(name, f"{name} {text!r} has no UTC offset; add one, e.g. +02:00 or Z")
    return at


def _model(wanted: Wanted) -> OutcomeModel:
    try:
        seed = int(wanted.seed)
    except ValueError:
        raise InputProblem("seed", f"seed {wanted.seed!r} is not a whole number") from None
    if not -MAX_SEED <= seed <= MAX_SEED:
        raise InputProblem("seed", f"seed {seed} must be between {-MAX_SEED} and {MAX_SEED}")
    try:
        return OutcomeModel.parse(wanted.outcomes, seed=seed)
    except ValueError as exc:
        raise InputProblem("outcomes", f"outcomes: {exc}") from None


def view(name: str, result: forecast.Forecast) -> dict[str, Any]:
    """What the page shows of a forecast: ``simulate``'s summary, its moments as instants
    (the page writes them in the zone with their offset), and the charts' series."""
    figures = result.summary()
    zone = result.zone
    # each final contact's last call end, as the summary's ``last_final_at`` counts them:
    # the curve's last point is that moment
    last_by_contact: dict[str, datetime] = {}
    for a in result.attempts:
        if a.ended_at is not None:
            seen = last_by_contact.get(a.contact_id, a.ended_at)
            last_by_contact[a.contact_id] = max(a.ended_at, seen)
    finals = sorted(
        last_by_contact[k.id]
        for k in result.contacts
        if k.state.is_final and k.id in last_by_contact
    )
    days = figures["attempts_per_day"]
    charts = {
        "zone": zone.key,
        "days": {"labels": list(days), "attempts": list(days.values())},
        "completion": dashboard.curve(finals),
        "contacts": figures["contacts"],
    }
    return {
        "name": name,
        "figures": figures,
        "zone": zone.key,
        "start_at": datetime.fromisoformat(figures["start"]),
        "stopped_at": datetime.fromisoformat(figures["stopped_at"]),
        "last_final_at": (
            datetime.fromisoformat(figures["last_final_at"]) if figures["last_final_at"] else None
        ),
        "charts": charts,
    }
