"""Mounting the dashboard in the app: its routers, its static files, its error pages;
and the pages every visitor meets first: ``/`` (to the dashboard), sign-in, sign-out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ringcast.config import Settings
from ringcast.services.accounts import authenticate
from ringcast.ui import account, campaigns, charts, export, forecast
from ringcast.ui.session import (
    CsrfChecked,
    CsrfRefused,
    Signer,
    SignInRequired,
    UiStore,
    close_session,
    open_session,
    session_key,
)
from ringcast.ui.templating import STATIC, render

router = APIRouter(include_in_schema=False)

#: the most of an API key the sign-in form reads (real keys are far shorter)
MAX_KEY_CHARS = 200


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from ``app``: ``/`` leads to ``/ui/``."""
    app.state.ui_signer = Signer.of(settings.token_secret)
    app.include_router(router)
    app.include_router(campaigns.router)
    app.include_router(charts.router)
    app.include_router(export.router)
    app.include_router(forecast.router)
    app.include_router(account.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(SignInRequired, _to_sign_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(campaigns.PageNotFound, campaigns.page_not_found)


async def _to_sign_in(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/ui/sign-in?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        # htmx follows a redirect inside the fragment; this makes it load the whole page
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


async def _csrf_refused(request: Request, _exc: Exception) -> Response:
    return render(
        request,
        "error.html",
        None,
        status_code=403,
        title="Refused",
        message="This form was not sent from this dashboard (its security token is missing "
        "or stale). Go back, reload the page and try again.",
    )


def _next(target: str | None) -> str:
    """Only a path of the dashboard itself: never another site (an open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui", name="ui_root")
def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/sign-in", name="ui_sign_in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    if session_key(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    return render(request, "sign_in.html", None, title="Sign in", next=_next(next))


@router.post("/ui/sign-in", dependencies=[CsrfChecked], response_class=HTMLResponse)
def sign_in(
    request: Request,
    store: UiStore,
    api_key: Annotated[str, Form(max_length=MAX_KEY_CHARS)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui/",
) -> Response:
    """Check the key as the APIs do; on success set the session and go on."""
    key = authenticate(store, api_key.strip()) if api_key.strip() else None
    if key is None:
        message = (
            "Paste an API key to sign in."
            if not api_key.strip()
            else "This API key is not valid: it is unknown, revoked, or its account is "
            "disabled. Check that you pasted all of it."
        )
        return render(
            request,
            "sign_in.html",
            None,
            status_code=401,
            title="Sign in",
            next=_next(next),
            error=message,
        )
    response = RedirectResponse(_next(next), status_code=303)
    open_session(request, response, key)
    return response


@router.post("/ui/sign-out", name="ui_sign_out", dependencies=[CsrfChecked])
def sign_out() -> Response:
    response = RedirectResponse("/ui/sign-in", status_code=303)
    close_session(response)
    return response
