"""bench/dispatch: how fast ringcast turns due contacts into finished attempts, on PostgreSQL.

Measures, on one run of the shared server (each part in a fresh schema):

1. attempts per second end to end (claimed, dialled, outcome recorded, next state
   written) over N due contacts, with 1, 2 and 4 ``ringcast worker`` processes, the
   simulator answering at once and no pacing limit;
2. dial lateness (p50, p99) at a paced 200 attempts per second: the simulator's own
   dial log (written outside the workers) minus each attempt's pacing slot;
3. the peer a user would otherwise reach for: PgQueuer at batch_size=100 processing N
   no-op jobs on the same server; and the ratio;
4. many tenants at once: ``--tenants`` (5x4x5000: 5 organizations of 4 campaigns of
   5,000 contacts, 20 campaigns in all) with 1 and 2 workers, and whether the second
   worker made it slower (it must not).

Run: .venv/bin/pip install -e ".[bench]" && .venv/bin/python bench/dispatch.py
     [--contacts 100000] [--repeat 3] [--workers 1,2,4] [--tenants 5x4x5000]
     [--quick] [--json figures.json] [--url postgresql+psycopg://...]
Figures are medians over --repeat runs (lateness: one run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

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
from ringcast.records import Dialect
from ringcast.services import accounts, campaigns
from ringcast.services.direct_calls import ALWAYS

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Schema:
    """A fresh schema on the shared server, dropped afterwards."""

    def __init__(self, url: str) -> None:
        self.base = url
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        self.admin = sa.create_engine(url, poolclass=sa.NullPool)

    def __enter__(self) -> str:
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {self.name}")
        return f"{self.base}?options=-csearch_path%3D{self.name}"

    def __exit__(self, *exc: object) -> None:
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {self.name} CASCADE")


def seed(
    url: str, n: int, aps: float | None, *, orgs: int = 1, campaigns_per_org: int = 1
) -> tuple[sa.Engine, list[str]]:
    """``orgs`` organizations of ``campaigns_per_org`` paused campaigns of ``n`` contacts each."""
    # Every process on one PostgreSQL database holds the same secret key: this one and its
    # workers (run_workers passes it on).
    os.environ.setdefault(SECRET_KEY_ENV, Fernet.generate_key().decode())
    engine = make_engine(url)
    upgrade(engine)
    store, clock = SqlStore(engine), SystemClock()
    config = CampaignConfig(
        "",
        CampaignStatus.PAUSED,
        Schedule(ALWAYS),
        PacingLimits(attempts_per_second=aps),
        RetryPolicy(),
    )
    made: list[str] = []
    for o in range(orgs):
        issued = accounts.issue_key(store, clock, f"bench{o}")
        agent = accounts.register_agent(store, clock, f"bench{o}", "A", "Hi {{ name }}")
        for c in range(campaigns_per_org):
            campaign = campaigns.create(
                store,
                clock,
                campaigns.NewCampaign(
                    org_id=issued.organization.id,
                    workspace_id=issued.workspace.id,
                    name=f"bench {c}",
                    agent_id=agent.id,
                    agent_field="agentId",
                    dialect=Dialect.NATIVE,
                    config=config,
                ),
            )
            # created paused, filled, then released: the clock starts when all is due
            store.set_campaign_status(campaign.id, CampaignStatus.PAUSED, clock.now())
            base = 600000000 + c * n  # the same numbers in each organization
            step = 10_000
            for start in range(0, n, step):
                people = [
                    campaigns.Recipient(f"+33{base + i}", {"name": "x"})
                    for i in range(start, min(n, start + step))
                ]
                store.add_contacts(
                    campaign.id,
                    campaigns.contacts_for(campaign.id, people, clock.now()),
                    clock.now(),
                )
            made.append(campaign.id)
    return engine, made


def worker_env(url: str) -> dict[str, str]:
    """The environment of a ``ringcast worker`` on ``url``: calls answered at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(
        RINGCAST_DATABASE_URL=url,
        RINGCAST_SECRET_KEY=os.environ[SECRET_KEY_ENV],
        RINGCAST_SIMULATOR_TALK_S="0.001",
        RINGCAST_SIMULATOR_RING_S="0.001",
        RINGCAST_SIMULATOR_OUTCOMES="answered=1",
        RINGCAST_LOG_LEVEL="error",
    )
    return env


def run_workers(
    url: str,
    workers: int,
    n: int,
    aps: float | None,
    log: Path | None = None,
    *,
    orgs: int = 1,
    campaigns_per_org: int = 1,
) -> tuple[float, sa.Engine, list[str]]:
    engine, campaign_ids = seed(url, n, aps, orgs=orgs, campaigns_per_org=campaigns_per_org)
    env = worker_env(url)
    if log is not None:
        env["RINGCAST_SIMULATOR_DIAL_LOG"] = str(log)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ringcast", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    time.sleep(2)  # let them start before the campaign is released
    store = SqlStore(engine)
    started = time.perf_counter()
    for campaign_id in campaign_ids:
        store.set_campaign_status(campaign_id, CampaignStatus.SCHEDULED, SystemClock().now())
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    sa.text("select count(*) from contacts where state in ('waiting', 'dialing')")
                ).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    return elapsed, engine, campaign_ids


def throughput(url: str, workers: int, n: int, orgs: int = 1, campaigns_per_org: int = 1) -> float:
    """Attempts per second over ``orgs`` x ``campaigns_per_org`` campaigns of ``n``."""
    with Schema(url) as schema_url:
        elapsed, engine, _ = run_workers(
            schema_url, workers, n, None, orgs=orgs, campaigns_per_org=campaigns_per_org
        )
        engine.dispose()
    return n * orgs * campaigns_per_org / elapsed


def lateness(url: str, n: int, aps: float) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp, Schema(url) as schema_url:
        log = Path(tmp) / "dials.log"
        _, engine, _ = run_workers(schema_url, 1, n, aps, log)
        with engine.connect() as conn:
            slots = dict(conn.execute(sa.text("select id, dialed_at from attempts")).all())
        engine.dispose()
        lines = log.read_text().splitlines()
    late = []
    for line in lines:
        attempt_id, _, at = line.split()
        late.append((datetime.fromisoformat(at) - slots[attempt_id]) / timedelta(milliseconds=1))
    late.sort()
    return statistics.median(late), late[int(0.99 * (len(late) - 1))]


async def pgqueuer_rate(url: str, n: int) -> float:
    import asyncpg
    from pgqueuer import AsyncpgDriver
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries

    schema = f"bench_pgq_{uuid.uuid4().hex[:8]}"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        for start in range(0, n, 10_000):
            size = min(10_000, n - start)
            await queries.enqueue(["noop"] * size, [None] * size, [0] * size)
        worker = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        qm = QueueManager(Queries(AsyncpgDriver(worker)))
        done = 0

        @qm.entrypoint("noop")
        async def noop(_job: object) -> None:
            nonlocal done
            done += 1
            if done >= n:
                qm.shutdown.set()

        started = time.perf_counter()
        await qm.run(batch_size=100, dequeue_timeout=timedelta(seconds=1))
        elapsed = time.perf_counter() - started
        await worker.close()
        await conn.close()
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PG_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--paced", type=int, default=5_000, help="contacts for the lateness run")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--tenants",
        default="5x4x5000",
        help="the multi-tenant case: organizations x campaigns each x contacts each",
    )
    parser.add_argument("--workers", default="1,2,4", help="worker counts for one campaign")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.paced, args.tenants, args.workers = 10_000, 1_000, "5x4x500", "1,2"
    orgs, per_org, per_campaign = (int(x) for x in args.tenants.split("x"))
    counts = [int(x) for x in args.workers.split(",")]

    def median(run: Callable[[], float]) -> float:
        return statistics.median(run() for _ in range(args.repeat))

    figures: dict[str, object] = {"contacts": args.contacts, "repeat": args.repeat}
    peer = median(lambda: asyncio.run(pgqueuer_rate(args.url, args.contacts)))
    figures["pgqueuer_jobs_per_s"] = round(peer)
    print(f"PgQueuer batch_size=100, {args.contacts} no-op jobs: {peer:,.0f} jobs/s")
    for workers in counts:
        rate = median(lambda w=workers: throughput(args.url, w, args.contacts))
        figures[f"attempts_per_s_{workers}w"] = round(rate)
        figures[f"ratio_{workers}w"] = round(rate / peer, 3)
        print(
            f"ringcast {workers} worker(s), {args.contacts} contacts: {rate:,.0f} attempts/s "
            f"(ratio to PgQueuer {rate / peer:.3f})"
        )
    tenants = orgs * per_org * per_campaign
    for workers in (1, 2):
        rate = median(lambda w=workers: throughput(args.url, w, per_campaign, orgs, per_org))
        figures[f"tenants_attempts_per_s_{workers}w"] = round(rate)
        print(
            f"ringcast {workers} worker(s), {orgs * per_org} campaigns x {per_campaign} contacts "
            f"in {orgs} organizations ({tenants}): {rate:,.0f} attempts/s"
        )
    more = figures["tenants_attempts_per_s_2w"] >= figures["tenants_attempts_per_s_1w"]
    figures["tenants_more_workers_not_slower"] = more
    print(f"  2 workers not slower than 1: {'yes' if more else 'NO'}")
    p50, p99 = lateness(args.url, args.paced, 200)
    figures.update(lateness_p50_ms=round(p50, 1), lateness_p99_ms=round(p99, 1))
    print(
        f"dial lateness at 200 attempts/s over {args.paced} dials: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
