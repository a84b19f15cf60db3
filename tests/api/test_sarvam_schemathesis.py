"""schemathesis against the Sarvam surface: no server errors, no response off its schema.

Generated requests use the workspace's own org and workspace ids (anything else is a
404 before any work is done), so the operations themselves get exercised.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime
from ringcast.services import accounts

from .schemathesis_support import check_operation, operations

EXAMPLES = 30


@pytest.fixture(scope="module")
def sarvam(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, dict[str, str], dict[str, str]]]:
    tmp = Path(tmp_path_factory.mktemp("st"))
    runtime = open_runtime(
        Settings(
            database_url=f"sqlite:///{tmp / 'rc.db'}",
            data_dir=str(tmp / "data"),
            sarvam_rate_limit_requests=10**9,  # every example on one frozen clock
        )
    )
    clock = VirtualClock(datetime(2026, 6, 1, 6, tzinfo=UTC))
    issued = accounts.issue_key(runtime.store, clock, "acme")
    accounts.register_agent(runtime.store, clock, "acme", "Reminder", "Hello {{ firstName }}")
    app = create_app(runtime, clock)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(
        path_regex="^/api/scheduling/"
    )
    ids = {"org_id": issued.organization.id, "workspace_id": issued.workspace.id}
    yield schema, {"X-API-Key": issued.plaintext}, ids
    runtime.close()


@pytest.mark.parametrize("label", operations("^/api/scheduling/"))
def test_sarvam_surface_conforms(sarvam, label: str) -> None:
    """Every generated request gets a documented status and a body that fits the schema."""
    schema, headers, ids = sarvam
    check_operation(schema, label, headers, EXAMPLES, ids)
