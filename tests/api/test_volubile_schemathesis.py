"""schemathesis against the Volubile surface: no server errors, no response off its schema.

Driven without schemathesis' pytest plugin (it does not run under this pytest): each
operation's strategy is run under ``@given``, bounded by a derandomized example count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis

from ringcast.api.app import create_app
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.runtime import open_runtime
from ringcast.services import accounts

from .schemathesis_support import check_operation, operations

EXAMPLES = 40


@pytest.fixture(scope="module")
def volubile(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    db = Path(tmp_path_factory.mktemp("st")) / "rc.db"
    runtime = open_runtime(Settings(database_url=f"sqlite:///{db}", rate_limit_requests=10**9))
    clock = VirtualClock(datetime(2026, 6, 1, 6, tzinfo=UTC))
    key = accounts.issue_key(runtime.store, clock, "acme").plaintext
    accounts.register_agent(runtime.store, clock, "acme", "Reminder", "Hello {{ firstName }}")
    app = create_app(runtime, clock)
    yield schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex="^/v1/"), key
    runtime.close()


@pytest.mark.parametrize("label", operations("^/v1/"))
def test_volubile_surface_conforms(volubile, label: str) -> None:
    """Every generated request gets a documented status and a body that fits the schema."""
    schema, key = volubile
    check_operation(schema, label, {"X-Api-Key": key}, EXAMPLES)
