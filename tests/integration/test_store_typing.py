"""mypy proves both stores satisfy the ports they are used through, so they cannot drift.

``MemoryStore`` is the forecast's twin of ``SqlStore``: every dispatch transaction the
dispatcher runs on one must exist, with the same signature, on the other. The check runs
mypy (strict, the project's configuration) on a snippet that assigns each store to its
protocol; a second case shows that the same check catches a store that drifted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]

BOTH_STORES = """
import sqlalchemy as sa

from ringcast import ports
from ringcast.db.memory import MemoryStore
from ringcast.db.store import SqlStore

engine = sa.create_engine("sqlite://")
memory: ports.DispatchStore = MemoryStore()
sql: ports.DispatchStore = SqlStore(engine)
whole: ports.SqlStoreApi = SqlStore(engine)
"""

DRIFTED = """
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from ringcast import ports
from ringcast.core.model import Attempt, Contact
from ringcast.core.step import CallResult, Finish


class Drifted:
    \"\"\"Every dispatch transaction but ``run_tick``.\"\"\"

    def earliest_wake(self) -> datetime | None:
        return None

    def campaigns_to_plan(self, now: datetime, limit: int) -> list[str]:
        return []

    def end_attempt(self, result: CallResult, finish: Finish) -> tuple[Contact, Attempt] | None:
        return None

    def end_attempts(self, ends: Sequence[ports.End]) -> list[tuple[Contact, Attempt] | None]:
        return []

    def withdraw_attempt(self, attempt_id: str, until: datetime, reason: str) -> bool:
        return False

    def expired_attempts(self, now: datetime, limit: int) -> list[str]:
        return []

    def acquire_lease(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        return False

    def signing_secret(self, org_id: str, make: Callable[[], str]) -> str:
        return make()


drifted: ports.DispatchStore = Drifted()
"""


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for both cases: the second checks only its snippet again."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture
def check(
    mypy_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], tuple[str, int]]:
    """Run mypy on a snippet; returns what it said and its exit status."""
    # ringcast ships no ``py.typed``: mypy reads it as source from src/, as the project run does.
    monkeypatch.setenv("MYPYPATH", str(ROOT / "src"))
    return functools.partial(_check, cache=mypy_cache, tmp_path=tmp_path)


def _check(snippet: str, *, cache: Path, tmp_path: Path) -> tuple[str, int]:
    # A file, not ``-c``: the configuration's ``files`` would clash with a command.
    source = tmp_path / "snippet.py"
    source.write_text(snippet)
    out, err, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            str(source),
        ]
    )
    return out + err, status


def test_both_stores_satisfy_the_dispatch_port(check: Callable[[str], tuple[str, int]]) -> None:
    """``MemoryStore`` and ``SqlStore`` are ``DispatchStore``s, and ``SqlStore`` is the
    whole ``SqlStoreApi``: mypy --strict finds nothing to say."""
    report, status = check(BOTH_STORES)
    assert status == 0, report
    assert report == ""


def test_a_store_missing_a_transaction_is_reported(
    check: Callable[[str], tuple[str, int]],
) -> None:
    """The check can fail: a store without ``run_tick`` is reported as not a
    ``DispatchStore``, naming the missing member."""
    report, status = check(DRIFTED)
    assert status == 1
    assert 'Incompatible types in assignment (expression has type "Drifted"' in report
    assert '"Drifted" is missing following "DispatchStore" protocol member' in report
    assert "note:     run_tick" in report
