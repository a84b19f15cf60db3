"""Golden traces: ``ringcast simulate`` output for fixed scenarios, checked in.

A change that moves any attempt of these runs must update the files on purpose:
``UPDATE_GOLDEN=1 ./scripts/test tests/forecast/test_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ringcast.cli import app
from tests.forecast import scenarios

GOLDEN = Path(__file__).parent / "golden"


def simulate(s: scenarios.Scenario, tmp_path: Path, *extra: str) -> tuple[str, Path]:
    body = tmp_path / f"{s.name}.json"
    body.write_text(json.dumps(s.body))
    trace = tmp_path / f"{s.name}.jsonl"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--campaign", str(body),
            "--contacts", str(s.contacts),
            "--start", s.start.isoformat(),
            "--outcomes", s.outcomes,
            "--seed", str(s.seed),
            "--trace", str(trace),
            *extra,
        ],
        env={"RINGCAST_DEFAULT_ATTEMPTS_PER_SECOND": str(s.pacing_defaults.attempts_per_second),
             "RINGCAST_DEFAULT_MAX_CONCURRENT": str(s.pacing_defaults.max_concurrent)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout, trace


@pytest.mark.parametrize("s", scenarios.ALL, ids=lambda s: s.name)
def test_trace_matches_the_checked_in_one(s: scenarios.Scenario, tmp_path: Path) -> None:
    """Each scenario's simulate trace matches the checked-in golden trace line for line."""
    _, trace = simulate(s, tmp_path)
    golden = GOLDEN / f"{s.name}.jsonl"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(trace.read_text())
    assert trace.read_text().splitlines() == golden.read_text().splitlines()


def test_the_dst_trace_keeps_local_hours_on_both_sides_of_the_change() -> None:
    """Across the October clock change, dials stay in the clipped local slot and the 25-hour day
    gets exactly its daily cap."""
    rows = [json.loads(line) for line in (GOLDEN / "paris_dst.jsonl").read_text().splitlines()]
    offsets = {r["dialed_at"][-6:] for r in rows}
    assert offsets == {"+02:00", "+01:00"}  # summer time before 25 October, winter after
    for r in rows:
        hour = int(r["dialed_at"][11:13])
        assert 10 <= hour < 12, r  # the 09:00-12:00 slot clipped to French legal hours
    per_day: dict[str, int] = {}
    for r in rows:
        per_day[r["dialed_at"][:10]] = per_day.get(r["dialed_at"][:10], 0) + 1
    assert per_day["2026-10-25"] == 60  # the 25-hour day still gets exactly its cap
    assert max(per_day.values()) == 60
