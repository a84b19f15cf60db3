"""Who is looking: the signed session cookie, the principal behind it, and the CSRF check.

The session cookie holds ``<key prefix>.<expiry>.<nonce>.<signature>``: the API key's
visible prefix (the key itself never leaves the sign-in request), when the session ends
(Unix seconds, from the app's clock), a random nonce, and an HMAC-SHA256 of the rest.
Each request checks the signature and the expiry, then reads the key again, so a revoked
key or a disabled organization ends its sessions at once.

Cross-site requests: every cookie is ``SameSite=Strict``, and every POST form also carries
a token, an HMAC of a random value kept in its own ``HttpOnly`` cookie (the double-submit
pattern, signed): another site can neither read the cookie nor compute the token. The
sign-in form is protected the same way, so another site cannot sign a visitor in with
its own key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from ringcast.api.auth import ALL_SCOPES, Principal
from ringcast.clock import Clock
from ringcast.ports import SqlStoreApi
from ringcast.records import ApiKey

SESSION_COOKIE = "ringcast_session"
CSRF_COOKIE = "ringcast_csrf"
CSRF_FIELD = "csrf_token"
#: how long a session lasts from sign-in: a working day
SESSION_TTL = timedelta(hours=12)


class SignInRequired(Exception):
    """No session, or one that is no longer good: the visitor is sent to sign in."""


class CsrfRefused(Exception):
    """A POST without the form token its CSRF cookie calls for."""


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 with one secret, each use under its own label."""

    secret: bytes

    @classmethod
    def of(cls, configured: str) -> Signer:
        # an empty secret: this process only, as for the API's bearer tokens
        return cls((configured or secrets.token_urlsafe(32)).encode())

    def sign(self, label: str, value: str) -> str:
        mac = hmac.new(self.secret, f"{label}\n{value}".encode(), hashlib.sha256)
        return mac.hexdigest()

    def verify(self, label: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(label, value), signature)


def _signer(request: Request) -> Signer:
    signer: Signer = request.app.state.ui_signer
    return signer


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_store(request: Request) -> SqlStoreApi:
    store: SqlStoreApi = request.app.state.store
    return store


UiStore = Annotated[SqlStoreApi, Depends(get_store)]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def open_session(request: Request, response: Response, key: ApiKey) -> None:
    """Set the session cookie for ``key`` (already authenticated)."""
    expires_at = _clock(request).now() + SESSION_TTL
    body = f"{key.prefix}.{int(expires_at.timestamp())}.{secrets.token_hex(8)}"
    value = f"{body}.{_signer(request).sign('session', body)}"
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(SESSION_TTL.total_seconds()),
        expires=expires_at,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )


def close_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")


def session_key(request: Request) -> ApiKey | None:
    """The live key behind the request's session cookie, or None."""
    value = request.cookies.get(SESSION_COOKIE, "")
    body, _, signature = value.rpartition(".")
    parts = body.split(".")
    if len(parts) != 3 or not _signer(request).verify("session", body, signature):
        return None
    prefix, expires, _nonce = parts
    if not expires.isdigit() or int(expires) <= _clock(request).now().timestamp():
        return None
    store = get_store(request)
    key = store.find_api_key(prefix)
    if key is None or key.revoked_at is not None:
        return None
    org = store.get_organization(key.org_id)
    if org is None or org.disabled:
        return None
    return key


def ui_principal(request: Request) -> Principal:
    """The signed-in key as a principal (its organization and workspace), or a redirect to
    the sign-in page (``SignInRequired``)."""
    key = session_key(request)
    if key is None:
        raise SignInRequired
    principal = Principal(key, ALL_SCOPES, via_token=False)
    request.state.ui_principal = principal
    return principal


UiPrincipal = Annotated[Principal, Depends(ui_principal)]


def csrf_token(request: Request) -> str:
    """The token a form on this page carries; makes the CSRF cookie's value if the
    request had none (``remember_csrf`` then sets it on the response)."""
    nonce = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_nonce", None)
    if not nonce:
        nonce = secrets.token_hex(16)
        request.state.csrf_nonce = nonce
    return _signer(request).sign("csrf", str(nonce))


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie when ``csrf_token`` made a new one for this request."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            nonce,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )


async def check_csrf(request: Request) -> None:
    """A POST's form carries the token of its CSRF cookie, else ``CsrfRefused`` (403)."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    form = await request.form()
    given: Any = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
    if not nonce or not isinstance(given, str) or not given:
        raise CsrfRefused
    if not _signer(request).verify("csrf", nonce, given):
        raise CsrfRefused


#: ``dependencies=[CsrfChecked]`` on every POST route of the dashboard
CsrfChecked: Any = Depends(check_csrf)
