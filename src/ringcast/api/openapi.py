"""The served OpenAPI document, adjusted so both vendors' schema names survive.

Volubile and FastAPI both name a schema ``ValidationError``. The Volubile one keeps the
name (clients generated from Volubile's spec know it); FastAPI's 422 item, which the
Sarvam surface uses, becomes ``RequestValidationIssue``. Volubile operations answer 400,
never 422, so their 422 entries go.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ringcast.api.errors import VOLUBILE_PREFIX
from ringcast.api.volubile.schemas import ValidationError as VolubileValidationError

FASTAPI_ITEM = "RequestValidationIssue"


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
    return doc
