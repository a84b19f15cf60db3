"""bench/import: a large CSV through the Sarvam cohort upload, as a client sends it.

A real ``ringcast serve`` (no dispatcher: nobody dials) on a fresh database; the file
(``--rows`` rows of mobile, customer_id, name, order, language; every 1,000th number
invalid) is POSTed to ``/cohorts/upload`` and the cohort is polled until it completes
(every number validated to E.164, the rows inserted, the cohort completed). Each run uses
a fresh campaign, or with ``--prefill N`` one campaign that already holds N contacts
before the first run (each run then adds numbers it has not seen).

Prints, per backend: the median seconds and rows per second over ``--repeat`` runs (from
the POST to ``completed``), the progress seen while it ran (the cohort's
``total_records`` at each poll), and the peak resident memory of the server process
(its high-water mark, ``VmHWM``) and of the server with the processes that check rows
(sampled at each poll), and the CPU seconds the server with those processes, and the
PostgreSQL backends serving it, used in each run (a figure a loaded machine moves much
less than the elapsed time).

Run: .venv/bin/python bench/import.py [--rows 1000000] [--prefill 5000000]
     [--backend postgres|sqlite|both] [--repeat 3] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ringcast.clock import SystemClock
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.crypto import SECRET_KEY_ENV
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.records import Campaign, Dialect
from ringcast.services import accounts, campaigns
from ringcast.services.direct_calls import ALWAYS

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MAPPING = {
    "phone_number": {"column_name": "mobile"},
    "user_identifier": {"column_name": "customer_id"},
    "app_variables": {"name": {"column_name": "name"}, "order": {"column_name": "order"}},
    "app_overrides": {"initial_language_name": {"column_name": "language"}},
}


def people(rows: int, run: int) -> bytes:
    """The file of run ``run``: numbers no other run uses (+919<run><8 digits>)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("mobile", "customer_id", "name", "order", "language"))
    for i in range(rows):
        phone = f"+919{run % 10}{i:08d}" if i % 1000 != 999 else "bad"
        w.writerow((phone, f"c{i}", f"Person {i}", f"O{i}", "Hindi"))
    return buf.getvalue().encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int, field_name: str) -> int:
    """A memory figure of a process from /proc (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """The processes under ``pid`` (those any of its threads started), and theirs."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found + [g for c in found for g in children(c)]


def cpu_s(pid: int, reaped: bool = False) -> float:
    """CPU seconds a process has used (user and system), with those of the children it
    has reaped when ``reaped`` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = sum(int(f) for f in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the server and its row-checking processes, and by the
    PostgreSQL backends serving it (those whose ``application_name`` is the bench's):
    a figure that other work on the machine moves much less than the elapsed time."""

    def __init__(self, server: Server, url: str, app: str | None) -> None:
        self.server, self.app = server, app
        self.engine = sa.create_engine(url, poolclass=sa.NullPool) if app else None
        self.backends: dict[int, tuple[float, float]] = {}  # pid: (first, last)
        self.start = self.server_s()
        self.sample(at_start=True)

    def server_s(self) -> float:
        pid = self.server.proc.pid
        return cpu_s(pid, reaped=True) + sum(cpu_s(c) for c in children(pid))

    def sample(self, at_start: bool = False) -> None:
        """Read the backends' CPU; one first seen later started after the meter did."""
        if self.engine is None:
            return
        with self.engine.connect() as conn:
            pids = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": self.app},
            ).scalars()
            for pid in pids:
                now = cpu_s(pid)
                first = self.backends.get(pid, (now if at_start else 0.0, 0.0))[0]
                self.backends[pid] = (first, now)

    def used(self) -> tuple[float, float]:
        """(server and row checkers, PostgreSQL) CPU seconds since this meter started."""
        self.sample()
        database = sum(last - first for first, last in self.backends.values())
        return self.server_s() - self.start, database


@dataclass
class Run:
    seconds: float
    progress: list[int] = field(default_factory=list)
    peak_with_workers_kib: int = 0
    server_cpu_s: float = 0.0
    database_cpu_s: float = 0.0


class Server:
    """``ringcast serve`` on a free port, no dispatcher."""

    def __init__(self, url: str, key: str, batch: int | None) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
        env.update(
            {
                "RINGCAST_DATABASE_URL": url,
                SECRET_KEY_ENV: key,
                "RINGCAST_EMBEDDED_DISPATCHER": "false",
                "RINGCAST_LOG_LEVEL": "warning",
            }
        )
        if batch:
            env["RINGCAST_COHORT_BATCH_ROWS"] = str(batch)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ringcast", "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.base}/healthz", timeout=1)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def new_campaign(store: SqlStore, org: str) -> tuple[Campaign, str]:
    """A campaign of a new organization, and an API key of it."""
    issued = accounts.issue_key(store, SystemClock(), org)
    agent = accounts.register_agent(
        store, SystemClock(), org, "A", "Hi {{ name }}, order {{ order }}"
    )
    config = CampaignConfig(
        "", CampaignStatus.SCHEDULED, Schedule(ALWAYS), PacingLimits(), RetryPolicy()
    )
    made = campaigns.create(
        store,
        SystemClock(),
        campaigns.NewCampaign(
            org_id=issued.organization.id,
            workspace_id=issued.workspace.id,
            name="import",
            agent_id=agent.id,
            agent_field="agentId",
            dialect=Dialect.SARVAM,
            config=config,
            recipients=[],
        ),
    )
    return made, issued.plaintext


def prefill(engine: sa.Engine, campaign: Campaign, count: int) -> None:
    """``count`` contacts in the campaign, most of them final (as a campaign that ran),
    numbers +9170<8 digits> that no run's file has."""
    now = SystemClock().now()
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO contacts (id, campaign_id, org_id, phone, context, state, "
                    "next_due_at, attempts, reason, repeatable, created_at, updated_at) "
                    "SELECT gen_random_uuid()::text, :c, :o, '+9170' || lpad(g::text, 8, '0'), "
                    "'{}'::jsonb, CASE WHEN g % 10 = 0 THEN 'waiting' ELSE 'exhausted' END, "
                    "CASE WHEN g % 10 = 0 THEN :later END, 1, NULL, false, :now, :now "
                    "FROM generate_series(1, :n) AS g"
                ),
                {"c": campaign.id, "o": campaign.org_id, "n": count, "now": now, "later": now},
            )
            conn.exec_driver_sql("ANALYZE contacts")
    else:
        with engine.begin() as conn:
            for start in range(0, count, 50_000):
                conn.execute(
                    sa.text(
                        "INSERT INTO contacts (id, campaign_id, org_id, phone, context, state, "
                        "attempts, repeatable, created_at, updated_at) VALUES "
                        "(:id, :c, :o, :p, '{}', 'exhausted', 1, 0, :now, :now)"
                    ),
                    [
                        {
                            "id": str(uuid.uuid4()),
                            "c": campaign.id,
                            "o": campaign.org_id,
                            "p": f"+9170{g:08d}",
                            "now": now.replace(tzinfo=None),
                        }
                        for g in range(start, min(count, start + 50_000))
                    ],
                )
            conn.exec_driver_sql("ANALYZE")
    print(f"  prefilled {count:,} contacts in {time.perf_counter() - started:.1f} s")


def upload(
    server: Server, key: str, campaign: Campaign, data: bytes, rows: int, meter: CpuMeter
) -> Run:
    base = (
        f"{server.base}/api/scheduling/v1/orgs/{campaign.org_id}/workspaces/"
        f"{campaign.workspace_id}/campaigns/{campaign.id}/cohorts"
    )
    with httpx.Client(headers={"X-Api-Key": key}, timeout=600) as http:
        started = time.perf_counter()
        r = http.post(
            f"{base}/upload",
            data={"name": "bench"},
            files={
                "cohort_file": ("people.csv", data, "text/csv"),
                "cohort_transformation_file": ("m.json", json.dumps(MAPPING), "application/json"),
            },
        )
        if r.status_code != 202:
            raise SystemExit(f"upload refused: {r.status_code} {r.text[:300]}")
        cohort_id = r.json()["cohort_id"]
        run = Run(0.0)
        while True:
            pids = [server.proc.pid, *children(server.proc.pid)]
            run.peak_with_workers_kib = max(
                run.peak_with_workers_kib, sum(rss_kib(p, "VmRSS") for p in pids)
            )
            got = http.get(f"{base}/{cohort_id}").json()
            run.progress.append(got["result"]["total_records"])
            meter.sample()
            if got["status"] != "processing":
                break
            time.sleep(0.25)
        run.seconds = time.perf_counter() - started
        run.server_cpu_s, run.database_cpu_s = meter.used()
    if got["status"] != "completed" or got["result"]["total_records"] != rows:
        raise SystemExit(f"the cohort did not complete: {got}")
    return run


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    key = Fernet.generate_key().decode()
    os.environ[SECRET_KEY_ENV] = key
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if backend == "postgres":
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = sa.create_engine(args.url, poolclass=sa.NullPool)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            url = f"{args.url}?options=-csearch_path%3D{schema}&application_name={schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'rc.db'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            store = SqlStore(engine)
            shared = None
            if args.prefill:
                shared = new_campaign(store, "prefilled")
                prefill(engine, shared[0], args.prefill)
            server = Server(url, key, args.batch)
            idle = rss_kib(server.proc.pid, "VmRSS")
            runs: list[Run] = []
            try:
                for n in range(args.repeat):
                    campaign, key = shared or new_campaign(store, f"org{n}")
                    data = people(args.rows, n)
                    meter = CpuMeter(server, args.url, schema)
                    run = upload(server, key, campaign, data, args.rows, meter)
                    runs.append(run)
                    shown = ", ".join(
                        f"{p:,}" for p in run.progress[:: max(1, len(run.progress) // 8)]
                    )
                    print(
                        f"  run {n + 1}: {run.seconds:.2f} s "
                        f"({args.rows / run.seconds:,.0f} rows/s); "
                        f"progress seen: {shown}, ...; server and workers at most "
                        f"{run.peak_with_workers_kib / 1024:.0f} MiB; CPU: server and "
                        f"row checkers {run.server_cpu_s:.1f} s, PostgreSQL "
                        f"{run.database_cpu_s:.1f} s"
                    )
                hwm = rss_kib(server.proc.pid, "VmHWM")
            finally:
                server.stop()
        finally:
            engine.dispose()
            if schema is not None:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    median = statistics.median(r.seconds for r in runs)
    summary = {
        "backend": backend,
        "rows": args.rows,
        "prefill": args.prefill,
        "runs": [round(r.seconds, 3) for r in runs],
        "server_cpu_s": [round(r.server_cpu_s, 1) for r in runs],
        "database_cpu_s": [round(r.database_cpu_s, 1) for r in runs],
        "median_s": round(median, 3),
        "rows_per_s": round(args.rows / median),
        "server_idle_rss_mib": round(idle / 1024),
        "server_peak_rss_mib": round(hwm / 1024),
        "server_and_workers_peak_rss_mib": round(max(r.peak_with_workers_kib for r in runs) / 1024),
    }
    print(
        f"{backend}: {args.rows:,} rows into a campaign of {args.prefill:,}: median "
        f"{median:.2f} s over {len(runs)} runs ({summary['rows_per_s']:,} rows/s; min "
        f"{min(r.seconds for r in runs):.2f}, max {max(r.seconds for r in runs):.2f}); "
        f"server RSS {summary['server_idle_rss_mib']} MiB idle, peak "
        f"{summary['server_peak_rss_mib']} MiB, with the row-checking "
        f"processes {summary['server_and_workers_peak_rss_mib']} MiB; CPU (medians): server "
        f"and row checkers {statistics.median(summary['server_cpu_s']):.1f} s, PostgreSQL "
        f"{statistics.median(summary['database_cpu_s']):.1f} s"
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--prefill", type=int, default=0, help="contacts already in the campaign")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--batch", type=int, default=None, help="RINGCAST_COHORT_BATCH_ROWS")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    parser.add_argument(
        "--quick", action="store_true", help="100,000 rows on PostgreSQL (bench/run_all.py)"
    )
    args = parser.parse_args()
    if args.quick:
        args.rows, args.backend = 100_000, "postgres"
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        print(f"{backend}: {args.rows:,} rows, {args.repeat} runs")
        results.append(measure(backend, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
