"""Helpers shared by the schemathesis runs of both surfaces."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


def operations(path_regex: str) -> list[str]:
    """Labels ("POST /v1/campaigns") of the served operations under a path, for parametrize."""
    with tempfile.TemporaryDirectory() as tmp:
        runtime = open_runtime(Settings(database_url=f"sqlite:///{Path(tmp) / 'rc.db'}"))
        try:
            doc = create_app(runtime, VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))).openapi()
        finally:
            runtime.close()
    pattern = re.compile(path_regex)
    return [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        if pattern.search(path)
        for method in ops
    ]


def check_operation(
    schema: schemathesis.BaseSchema,
    label: str,
    headers: dict[str, str],
    examples: int,
    path_parameters: dict[str, str] | None = None,
) -> None:
    """Run ``examples`` generated requests against one operation, with the checks above."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if path_parameters:
            case.path_parameters = {**(case.path_parameters or {}), **path_parameters}
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
