"""The served document declares how to sign in, so ``/docs`` and generated clients can."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ringcast.api.auth import API_KEY_ONLY

from .conftest import Account
from .routes_support import PUBLIC_PATHS, api_routes
from .test_volubile_auth import token

API_KEY = "Api key"
BEARER = "Bearer token"


@pytest.fixture
def served(client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _headers(scheme: dict[str, Any], credential: str) -> dict[str, str]:
    """The request header a generated client sends for ``scheme``, read from the document
    alone (as a generator or ``/docs`` does)."""
    if scheme["type"] == "apiKey":
        assert scheme["in"] == "header"
        return {scheme["name"]: credential}
    assert scheme["type"] == "http"
    return {"Authorization": f"{scheme['scheme'].capitalize()} {credential}"}


def test_the_document_declares_the_api_key_header_and_the_bearer_token(served) -> None:
    """Both credentials the app reads are security schemes, as Volubile's document names
    them: the ``X-Api-Key`` header and an HTTP bearer JWT."""
    schemes = served["components"]["securitySchemes"]
    assert schemes[API_KEY]["type"] == "apiKey"
    assert schemes[API_KEY]["in"] == "header"
    assert schemes[API_KEY]["name"].lower() == "x-api-key"
    assert schemes[BEARER]["type"] == "http"
    assert schemes[BEARER]["scheme"] == "bearer"
    assert schemes[BEARER]["bearerFormat"] == "JWT"
    assert "security" not in served  # no blanket requirement: the public routes stay public


def test_every_scoped_operation_requires_a_scheme_and_the_public_ones_none(app, served) -> None:
    """Walking the app's routes: each one that declares a scope requires the key or the
    token in the document (the key alone where a token is refused); the public routes in
    the document require nothing."""
    seen = 0
    for route in api_routes(app):
        operation = served["paths"].get(route.path, {}).get(route.method.lower())
        if operation is None:  # not in the document (/docs, /openapi.json themselves)
            assert route.path in PUBLIC_PATHS, f"{route} is missing from the document"
            continue
        seen += 1
        if route.path in PUBLIC_PATHS:
            assert "security" not in operation, f"{route} is public"
        elif API_KEY_ONLY in route.scopes:
            assert operation["security"] == [{API_KEY: []}], str(route)
        else:
            assert operation["security"] == [{API_KEY: []}, {BEARER: []}], str(route)
    assert seen > 30


@pytest.mark.parametrize("scheme_name", [API_KEY, BEARER])
def test_a_generated_request_signs_in_with_the_schemes_header(
    app, client, served, account: Account, scheme_name: str
) -> None:
    """A request schemathesis generates from the document, carrying the header built from
    the declared scheme, is let in (200); the same request without it is refused (401)."""
    scheme = served["components"]["securitySchemes"][scheme_name]
    credential = account.key if scheme_name == API_KEY else token(client, account, ["agents:read"])
    headers = _headers(scheme, credential)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema["/v1/agents"]["GET"]
    assert operation.definition.raw["security"]  # the operation says it needs a scheme

    @given(case=operation.as_strategy())
    @settings(
        max_examples=5,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.headers = {}
        assert case.call().status_code == 401
        response = case.call(headers=headers)
        assert response.status_code == 200, response.text
        assert isinstance(response.json()["content"], list)  # the caller's page of agents

    run()
