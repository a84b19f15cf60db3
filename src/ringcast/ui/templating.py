"""The dashboard's Jinja2 environment, its filters, and ``render``.

Templates live in ``ringcast/ui/templates`` and are autoescaped. Filters every page may use:

* ``phone``: a number as people write it (``phonenumbers``' international format), inside a
  ``<span>`` whose ``title`` is the E.164 form;
* ``when(zone)``: an instant in ``zone`` with its offset, in a ``<time datetime>``;
* ``seconds``: a duration (``timedelta`` or seconds) as ``1 min 05 s``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from ringcast.api.auth import Principal
from ringcast.ui.session import CSRF_FIELD, csrf_token, remember_csrf

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: the navigation, in order: (route name, label); another module appends its page here
NAV: list[tuple[str, str]] = [("ui_campaigns", "Campaigns")]


def human_phone(e164: str) -> str:
    """``+33612345678`` -> ``+33 6 12 34 56 78``; what cannot be parsed stays as it is."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    formatted: str = phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return formatted


def phone(e164: str | None) -> Markup:
    if not e164:
        return Markup("")
    return Markup('<span class="phone" title="{}">{}</span>').format(e164, human_phone(e164))


def local_time(at: datetime | None, zone: str | ZoneInfo) -> str:
    """``2026-12-01 10:00 +01:00``: the instant in ``zone``, with the offset."""
    if at is None:
        return ""
    local = at.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def when(at: datetime | None, zone: str | ZoneInfo) -> Markup:
    if at is None:
        return Markup("")
    return Markup('<time datetime="{}">{}</time>').format(at.isoformat(), local_time(at, zone))


def seconds(value: timedelta | float | None) -> str:
    if value is None:
        return ""
    total = int(value.total_seconds() if isinstance(value, timedelta) else value)
    minutes, secs = divmod(total, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["phone"] = phone
    env.filters["when"] = when
    env.filters["seconds"] = seconds
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page or fragment ``template`` with ``context``, the signed-in principal, the
    navigation and ``csrf_field()``; sets the CSRF cookie when the visitor had none."""
    token = csrf_token(request)

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(token)
        )

    response = templates.TemplateResponse(
        request,
        template,
        {
            "principal": principal,
            "nav": NAV,
            "csrf_field": csrf_field,
            "csrf_token": token,
            **context,
        },
        status_code=status_code,
    )
    remember_csrf(request, response)
    return response
