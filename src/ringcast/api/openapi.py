"""The served OpenAPI document, adjusted so both vendors' schema names survive.

Volubile and FastAPI both name a schema ``ValidationError``. The Volubile one keeps the
name (clients generated from Volubile's spec know it); FastAPI's 422 item, which the
Sarvam surface uses, becomes ``RequestValidationIssue``. Volubile operations answer 400,
never 422, so their 422 entries go.

The two credentials ``api.deps.get_principal`` reads are declared as security schemes,
under the names and with the header Volubile's document gives them, and every operation
that declares a scope (``api.deps.requires``) requires one of them, so ``/docs`` can sign
in and generated clients know the auth. The document says this after the fact rather
than through FastAPI's security classes, so how a request is authenticated (and what a
malformed header answers) stays ``api.auth.identify``'s alone. Public operations (health,
metrics, the provider callbacks) require nothing.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from ringcast.api.auth import API_KEY_ONLY
from ringcast.api.deps import declared_scopes
from ringcast.api.errors import VOLUBILE_PREFIX
from ringcast.api.volubile.schemas import ValidationError as VolubileValidationError

FASTAPI_ITEM = "RequestValidationIssue"

#: Volubile's names for the schemes; the header is the one ``get_principal`` reads
#: (header names are case-insensitive: Sarvam's ``X-API-Key`` is the same header).
API_KEY_SCHEME = "Api key"
BEARER_SCHEME = "Bearer token"
SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    API_KEY_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "Your API key (`ringcast keys create`).",
    },
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Short lived Bearer token issued by /v1/auth/token.",
    },
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    if "ValidationError" in schemas:
        schemas[FASTAPI_ITEM] = schemas.pop("ValidationError")
        text = json.dumps(schemas["HTTPValidationError"])
        schemas["HTTPValidationError"] = json.loads(
            text.replace(
                "#/components/schemas/ValidationError", f"#/components/schemas/{FASTAPI_ITEM}"
            )
        )
    volubile = VolubileValidationError.model_json_schema()
    volubile["properties"]["rejectedValue"] = {"description": "Value in error"}
    schemas["ValidationError"] = volubile
    for path, operations in doc.get("paths", {}).items():
        if path == VOLUBILE_PREFIX or path.startswith(VOLUBILE_PREFIX + "/"):
            for op in operations.values():
                op.get("responses", {}).pop("422", None)
    _declare_security(app, doc)
    return doc


def _declare_security(app: FastAPI, doc: dict[str, Any]) -> None:
    doc["components"]["securitySchemes"] = SECURITY_SCHEMES
    paths = doc.get("paths", {})
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        scopes = declared_scopes(route.dependant)
        if not scopes:
            continue
        # a token cannot mint another: the routes that want a key itself accept only a key
        accepted = [API_KEY_SCHEME] if API_KEY_ONLY in scopes else [API_KEY_SCHEME, BEARER_SCHEME]
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{name: []} for name in accepted]
