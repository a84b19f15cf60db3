"""bench/run_all: every benchmark under bench/, one after the other, in one command.

Runs each benchmark by its command line (``python bench/<name>.py``, with ``--quick``
when given, and ``--json <file>`` when the benchmark takes it), keeps what it printed and
the figures it wrote, and writes ``bench/results.json`` plus a Markdown table on stdout.
A benchmark that is not there (yet) gets a "not present" row; one that fails gets its
exit status and the last line it printed, and the others still run.

Run: .venv/bin/pip install -e ".[bench]" && .venv/bin/python bench/run_all.py [--quick]
     [--only dispatch,scale] [--out bench/results.json] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: the benchmarks of issue 17, in the order they run (cheap first)
BENCHMARKS = ["import", "forecast", "dispatch", "scale", "api_load", "dashboard", "export"]


@dataclass
class Result:
    name: str
    command: str
    status: str  #: ok, failed (exit N), timed out, not present
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)  #: what it printed
    figures: dict[str, Any] = field(default_factory=dict)  #: what it wrote with --json


def takes(script: Path, flag: str) -> bool:
    """Whether the benchmark's ``--help`` names ``flag`` (benchmarks written by others may
    not know ``--quick`` or ``--json``)."""
    try:
        shown = subprocess.run(
            [sys.executable, str(script), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
    except subprocess.TimeoutExpired:
        return False
    return flag in shown


def run(name: str, quick: bool, timeout: float, where: Path = HERE) -> Result:
    script = where / f"{name}.py"
    if not script.exists():
        return Result(name, f"python bench/{name}.py", "not present")
    argv = [sys.executable, str(script)]
    if quick and takes(script, "--quick"):
        argv.append("--quick")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        wants_json = takes(script, "--json")
        if wants_json:
            argv += ["--json", str(out)]
        shown = " ".join(["python", f"bench/{name}.py", *argv[2:]]).replace(str(out), "<file>")
        print(f"== {shown}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=where.parent
            )
        except subprocess.TimeoutExpired as exc:
            printed = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return Result(
                name,
                shown,
                f"timed out after {timeout:.0f} s",
                time.perf_counter() - started,
                printed.splitlines(),
            )
        seconds = time.perf_counter() - started
        lines = [x for x in done.stdout.splitlines() if x.strip()]
        for line in lines:
            print(f"   {line}", file=sys.stderr, flush=True)
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        if done.returncode != 0:
            tail = [x for x in done.stderr.splitlines() if x.strip()][-1:]
            lines += [x if x.startswith("error") else f"error: {x}" for x in tail]
        figures = json.loads(out.read_text()) if wants_json and out.exists() else {}
    return Result(name, shown, status, round(seconds, 1), lines, figures)


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pg = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "show server_version", "test"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pg = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "postgresql": pg or "unknown",
    }


def table(results: list[Result]) -> str:
    rows = [
        "| benchmark | command | status | seconds | figures |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        figures = "<br>".join(x.replace("|", "\\|") for x in r.lines) or "-"
        seconds = f"{r.seconds:.0f}" if r.seconds else "-"
        rows.append(f"| {r.name} | `{r.command}` | {r.status} | {seconds} | {figures} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="each benchmark at small sizes")
    parser.add_argument("--only", help="comma-separated names, of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else BENCHMARKS
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results = [run(name, args.quick, args.timeout) for name in names]
    summary = {
        "started_at": started,
        "quick": args.quick,
        "machine": machine(),
        "results": [asdict(r) for r in results],
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    m = summary["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores,", end=" ")
    print(f"Python {m['python']}, PostgreSQL {m['postgresql']}")
    print()
    print(table(results))
    if any(r.status not in ("ok", "not present") for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
