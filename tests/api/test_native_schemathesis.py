"""schemathesis against the native surface (``/ringcast/v1``): no server errors, and every
error in FastAPI's shape with a bounded body.

The Volubile and Sarvam runs also check each answer against its documented schema; the
native surface documents fewer statuses, so this run checks what every surface owes:
never a 5xx, always the surface's error shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime
from ringcast.services import accounts

from .schemathesis_support import operations
from .test_hostile_input import shape_problem

EXAMPLES = 25


@pytest.fixture(scope="module")
def native(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[schemathesis.BaseSchema, dict[str, str]]]:
    tmp = Path(tmp_path_factory.mktemp("st"))
    runtime = open_runtime(
        Settings(database_url=f"sqlite:///{tmp / 'rc.db'}", data_dir=str(tmp / "data"))
    )
    clock = VirtualClock(datetime(2026, 6, 1, 6, tzinfo=UTC))
    issued = accounts.issue_key(runtime.store, clock, "acme")
    accounts.register_agent(runtime.store, clock, "acme", "Reminder", "Hello {{ firstName }}")
    app = create_app(runtime, clock)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/ringcast/v1/"
    )
    yield schema, {"X-API-Key": issued.plaintext}
    runtime.close()


@pytest.mark.parametrize("label", operations("^/ringcast/v1/"))
def test_native_surface_never_fails(native, label: str) -> None:
    """Every generated request gets an answer below 500, errors in FastAPI's shape."""
    schema, headers = native
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        problem = shape_problem(case.formatted_path, response.status_code, response.content)
        assert problem is None, f"{case.method} {case.formatted_path}: {problem}"

    run()
