"""bench/run_all.py: every benchmark run by its command line, whatever state it is in."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

FAKE = """
import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true")
parser.add_argument("--json")
args = parser.parse_args()
print(f"quick={args.quick} | 42 things/s")
if args.json:
    open(args.json, "w").write(json.dumps({"things_per_s": 42}))
"""


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_runs_with_quick_and_json_and_its_figures_are_kept(
    run_all: ModuleType, tmp_path: Path
) -> None:
    """A benchmark that takes --quick and --json gets both; what it printed and the figures
    it wrote end up in its result, and the table escapes the | it printed."""
    (tmp_path / "fake.py").write_text(FAKE)
    result = run_all.run("fake", True, 60, where=tmp_path)
    assert result.status == "ok"
    assert result.lines == ["quick=True | 42 things/s"]
    assert result.figures == {"things_per_s": 42}
    assert "--quick --json <file>" in result.command
    assert "quick=True \\| 42 things/s" in run_all.table([result])


def test_a_missing_benchmark_is_a_row_and_a_failing_one_says_why(
    run_all: ModuleType, tmp_path: Path
) -> None:
    """A benchmark not written yet is "not present"; one that exits non-zero reports its
    exit status and the last line of its stderr; neither stops the others."""
    (tmp_path / "broken.py").write_text("import sys\nsys.exit('error: no database')\n")
    missing = run_all.run("absent", False, 60, where=tmp_path)
    broken = run_all.run("broken", False, 60, where=tmp_path)
    assert missing.status == "not present"
    assert broken.status == "failed (exit 1)"
    assert broken.lines == ["error: no database"]
    rows = run_all.table([missing, broken]).splitlines()
    assert len(rows) == 4
    assert json.dumps(run_all.asdict(broken))  # results.json can hold it
