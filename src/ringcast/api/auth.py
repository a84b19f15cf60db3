"""Who is calling: an API key, or a short-lived bearer token minted from one.

Tokens are HS256 JWTs. Only HS256 is accepted (so ``alg: none`` and any other algorithm
are refused), and expiry is checked against the injected clock, not the wall clock, so
the same code runs on virtual time in tests. A token stops working when the key that
minted it is revoked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt

from ringcast.clock import Clock
from ringcast.ports import Store
from ringcast.records import ApiKey
from ringcast.services.accounts import authenticate as authenticate_key

TOKEN_TTL = timedelta(seconds=900)
ALGORITHM = "HS256"
ISSUER = "ringcast"

#: Volubile's scopes (its ``AuthTokenRequest.scope`` enum), the only ones a token carries.
#: Every route of every surface requires one of them (``api.deps.requires``).
ALL_SCOPES = frozenset({
    "calls:read", "calls:write", "campaigns:read", "campaigns:write",
    "agents:read", "agents:write", "integrations:read", "integrations:write",
})  # fmt: skip
#: What a route requires when only an API key itself may call it, never a bearer token
#: (minting a token: a token cannot mint another).
API_KEY_ONLY = "api-key"


class AuthFailed(Exception):
    """401: no credential, or one we do not accept; 403: accepted but not allowed."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"rate limit exceeded; retry after {retry_after_s} s")


@dataclass(frozen=True)
class Principal:
    key: ApiKey
    scopes: frozenset[str]
    via_token: bool

    @property
    def org_id(self) -> str:
        return self.key.org_id

    @property
    def workspace_id(self) -> str:
        return self.key.workspace_id

    @property
    def actor(self) -> str:
        """How records name who acted: the key's visible prefix, never the key."""
        return self.key.prefix

    def require(self, scope: str) -> None:
        """403 unless the credential carries ``scope`` (or, for ``API_KEY_ONLY``, is a key)."""
        if scope == API_KEY_ONLY:
            if self.via_token:
                raise AuthFailed(403, "a bearer token cannot mint another token; use an API key")
            return
        if scope not in self.scopes:
            raise AuthFailed(403, f"the credential lacks the scope {scope}")


class TokenSigner:
    def __init__(self, secret: str, clock: Clock) -> None:
        # An empty secret means "this process only": tokens die with it.
        self._secret = secret or secrets.token_urlsafe(32)
        self._clock = clock

    def issue(self, key: ApiKey, scopes: frozenset[str]) -> str:
        now = self._clock.now()
        claims = {
            "iss": ISSUER,
            "sub": key.prefix,
            "scope": sorted(scopes),
            "iat": int(now.timestamp()),
            "exp": int((now + TOKEN_TTL).timestamp()),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "scope"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            raise AuthFailed(401, "invalid bearer token") from None
        if not isinstance(claims["exp"], int) or claims["exp"] <= self._clock.now().timestamp():
            raise AuthFailed(401, "the bearer token has expired")
        return claims


def identify(
    store: Store, signer: TokenSigner, api_key: str | None, authorization: str | None
) -> Principal:
    """The principal behind the request's headers, or ``AuthFailed(401)``."""
    if api_key:
        key = authenticate_key(store, api_key)
        if key is None:
            raise AuthFailed(401, "invalid, revoked or disabled API key")
        return Principal(key, ALL_SCOPES, via_token=False)
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed(401, "the Authorization header must be 'Bearer <token>'")
        claims = signer.verify(token.strip())
        key = store.find_api_key(str(claims["sub"]))
        if key is None or key.revoked_at is not None:
            raise AuthFailed(401, "the key behind this token is revoked")
        org = store.get_organization(key.org_id)
        if org is None or org.disabled:
            raise AuthFailed(401, "the account is disabled")
        scopes = frozenset(s for s in claims["scope"] if isinstance(s, str)) & ALL_SCOPES
        return Principal(key, scopes, via_token=True)
    raise AuthFailed(401, "missing credentials: send X-Api-Key or Authorization: Bearer <token>")
