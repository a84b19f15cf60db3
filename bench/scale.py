"""bench/scale: does ringcast stay as fast with 10 million contacts stored as with 100,000?

The store: ``--contacts`` (10,000,000) contacts across ``--campaigns`` (200) campaigns in
5 organizations, generated inside PostgreSQL (``INSERT ... SELECT generate_series``, no
row goes through Python). ``--live`` (10) campaigns are running: ``--due`` (100,000) of
their contacts are due now, the rest of their contacts already final (reached, with one
ended attempt each) or waiting for tomorrow. Of the other campaigns, half have ended
(every contact final, with its attempt) and half are scheduled with every contact
waiting for tomorrow.

Measures, each part in a fresh schema of the shared server:

1. attempts per second over the due contacts with ``--workers`` ``ringcast worker``
   processes (the simulator answering at once), in the full store and in a store that
   holds only the due contacts; the ratio (target: at least 0.90);
2. the latency of ``GET /v1/campaigns/{id}``, ``/ringcast/v1/campaigns/{id}/figures``,
   ``/ringcast/v1/campaigns/{id}/contacts``, ``/v1/calls`` and ``/metrics`` on the full
   store after the dispatch (median and worst of ``--requests``; target under 50 ms),
   through one uvicorn process of ``ringcast.api.asgi:app`` on loopback; the dashboard's
   campaign page too when the server has one;
3. with ``--explain``, the plans of the queries behind those pages and of planning.

10,000,000 contacts take about 8 GB of disk and several minutes to generate: ``--contacts
1000000`` runs smaller (say which you ran).

Run: .venv/bin/python bench/scale.py [--contacts 10000000] [--due 100000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatch import DEFAULT_URL, Schema, worker_env
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

ORGS = 5

#: the contacts of one campaign, made in the database: $1 campaign, $2 organization,
#: $3 first global number, $4 how many, $5 how many of them are due now, $6 how many of
#: the rest are final (the others wait for tomorrow)
CONTACTS = """
insert into contacts (id, campaign_id, org_id, phone, context, state, next_due_at, attempts,
                      repeatable, created_at, updated_at)
select md5(:campaign || ':' || i)::uuid::text, :campaign, :org,
       '+339' || lpad((:first + i)::text, 8, '0'), '{"name": "x"}',
       case when i < :due then 'waiting' when i < :due + :final then 'reached' else 'waiting' end,
       case when i < :due then now() - interval '1 minute'
            when i < :due + :final then null else now() + interval '1 day' end,
       case when i >= :due and i < :due + :final then 1 else 0 end,
       false, now() - interval '2 days', now() - interval '1 day'
from generate_series(0, :count - 1) as i
"""

#: one ended, completed attempt for each final contact of a campaign (the same ids and
#: numbers as ``CONTACTS`` makes, without reading them back)
ATTEMPTS = """
insert into attempts (id, contact_id, campaign_id, org_id, phone, number, state, outcome,
                      due_at, dialed_at, answered_at, ended_at, duration_s, qualifiers,
                      variables, dropped_variables, created_at)
select md5(:campaign || '#' || i)::uuid::text, md5(:campaign || ':' || i)::uuid::text,
       :campaign, :org, '+339' || lpad((:first + i)::text, 8, '0'), 0, 'ended', 'completed',
       at, at, at, at + interval '30 seconds', 30, '[]', '{"name": "x"}', '[]', at
from generate_series(:due, :due + :final - 1) as i,
     lateral (select now() - interval '2 days' + i * interval '1 millisecond' as at) as t
"""


#: the secondary indexes of the tables filled in bulk (those behind no constraint)
INDEXES = """
select indexname, indexdef from pg_indexes i
where schemaname = current_schema() and tablename in ('contacts', 'attempts')
  and not exists (select 1 from pg_constraint where conname = i.indexname)
"""


def make_store(
    url: str, contacts: int, n_campaigns: int, live: int, due: int, full: bool
) -> tuple[sa.Engine, list[str], str]:
    """The campaigns and their contacts; returns the live campaigns and an API key of the
    first organization (whose first live campaign the pages are read of)."""
    os.environ.setdefault(SECRET_KEY_ENV, Fernet.generate_key().decode())
    engine = make_engine(url)
    upgrade(engine)
    store, clock = SqlStore(engine), SystemClock()
    owners = []
    for o in range(ORGS):
        issued = accounts.issue_key(store, clock, f"org{o}")
        agent = accounts.register_agent(store, clock, f"org{o}", "A", "Hi {{ name }}")
        owners.append((issued, agent))
    total = n_campaigns if full else live
    per_campaign = contacts // n_campaigns
    live_ids: list[str] = []
    first = 0
    started = time.perf_counter()
    # Indexes are built once at the end (much faster than row by row), except those
    # behind a constraint (the primary keys and unique constraints).
    with engine.begin() as conn:
        indexes = conn.execute(sa.text(INDEXES)).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f"drop index {name}")
    for c in range(total):
        issued, agent = owners[c % ORGS]
        config = CampaignConfig(
            "", CampaignStatus.PAUSED, Schedule(ALWAYS), PacingLimits(), RetryPolicy()
        )
        made = campaigns.create(
            store,
            clock,
            campaigns.NewCampaign(
                org_id=issued.organization.id,
                workspace_id=issued.workspace.id,
                name=f"scale {c}",
                agent_id=agent.id,
                agent_field="agentId",
                dialect=Dialect.NATIVE,
                config=config,
            ),
        )
        due_here = due // live if c < live else 0
        if c < live:
            count = per_campaign if full else due_here
            final = (count - due_here) // 2
            status = CampaignStatus.PAUSED  # released when the workers are up
            live_ids.append(made.id)
        elif c % 2 == 0:
            count, final, status = per_campaign, per_campaign, CampaignStatus.ENDED
        else:
            count, final, status = per_campaign, 0, CampaignStatus.SCHEDULED
        store.set_campaign_status(made.id, status, clock.now())
        with engine.begin() as conn:
            params = {
                "campaign": made.id,
                "org": issued.organization.id,
                "first": first,
                "count": count,
                "due": due_here,
                "final": final,
            }
            conn.execute(sa.text(CONTACTS), params)
            conn.execute(sa.text(ATTEMPTS), params)
            if status is CampaignStatus.SCHEDULED:
                conn.execute(
                    sa.text(
                        "update campaigns set next_wake_at = now() + interval '1 day' "
                        "where id = :id"
                    ),
                    {"id": made.id},
                )
        first += count
        if c % 20 == 19:
            print(
                f"  {c + 1}/{total} campaigns, {first:,} contacts, "
                f"{time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    with engine.begin() as conn:
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
    # as autovacuum would have left tables this old: statistics, and the visibility map
    # that lets counts read an index alone
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("vacuum analyze contacts")
        conn.exec_driver_sql("vacuum analyze attempts")
        conn.exec_driver_sql("analyze")
        # the load's writes flushed now, not by a checkpoint during the measurement
        conn.exec_driver_sql("checkpoint")
    print(f"  store made in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return engine, live_ids, owners[0][0].plaintext


def dispatch_rate(
    engine: sa.Engine, url: str, live_ids: list[str], due: int, workers: int
) -> float:
    """Release the live campaigns and time their due contacts' attempts end to end."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ringcast", "worker"],
            env=worker_env(url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    time.sleep(2)  # let them start before the campaigns are released
    store = SqlStore(engine)
    left = sa.text(
        "select count(*) from contacts where campaign_id = any(:ids) and "
        "((state = 'waiting' and next_due_at <= now()) or state = 'dialing')"
    )
    started = time.perf_counter()
    for campaign_id in live_ids:
        store.set_campaign_status(campaign_id, CampaignStatus.SCHEDULED, SystemClock().now())
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(left, {"ids": live_ids}).scalar_one() == 0:
                    break
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
    return due / elapsed


@contextmanager
def server(url: str, processes: int = 1, **settings: str) -> Iterator[str]:
    """``processes`` uvicorn processes of the ASGI app on a free loopback port (the
    embedded dispatcher off, the rate limits lifted through their settings); its URL."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = worker_env(url)
    env.update(
        RINGCAST_TOKEN_SECRET="bench-" + os.urandom(8).hex(),
        RINGCAST_EMBEDDED_DISPATCHER="false",
        RINGCAST_RATE_LIMIT_REQUESTS="1000000",
        RINGCAST_NATIVE_RATE_LIMIT_REQUESTS="1000000",
        **settings,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "ringcast.api.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--workers",
            str(processes),
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def sign_in(client: httpx.Client, key: str) -> None:
    """Open a dashboard session on ``client`` with ``key``, as a person does (the sign-in
    form and its CSRF token); a server without the dashboard is left as it is."""
    page = client.get("/ui/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if page.status_code == 200 and token is not None:
        client.post("/ui/sign-in", data={"api_key": key, "csrf_token": token.group(1)})


def latencies(base: str, key: str, campaign_id: str, requests: int) -> dict[str, dict[str, Any]]:
    """Median and worst milliseconds of each page, after one warm-up request each."""
    pages = {
        "GET /v1/campaigns/{id}": f"/v1/campaigns/{campaign_id}",
        "GET /ringcast/v1/campaigns/{id}/figures": f"/ringcast/v1/campaigns/{campaign_id}/figures",
        "GET /ringcast/v1/campaigns/{id}/contacts": (
            f"/ringcast/v1/campaigns/{campaign_id}/contacts?offset=0&limit=100"
        ),
        "GET /v1/calls": "/v1/calls?page=1&size=20",
        "GET /metrics": "/metrics",
        "dashboard campaign page": f"/ui/campaigns/{campaign_id}",
    }
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=base, headers={"X-Api-Key": key}, timeout=60) as client:
        sign_in(client, key)
        for name, path in pages.items():
            first = client.get(path)
            if name.startswith("dashboard") and first.status_code in (401, 403, 404, 303, 307):
                out[name] = {"status": f"not measured (HTTP {first.status_code})"}
                continue
            if first.status_code != 200:
                out[name] = {"status": f"HTTP {first.status_code}: {first.text[:200]}"}
                continue
            took = []
            for _ in range(requests):
                started = time.perf_counter()
                r = client.get(path)
                took.append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
            out[name] = {
                "median_ms": round(statistics.median(took), 1),
                "max_ms": round(max(took), 1),
                "under_50ms": max(took) < 50,
            }
    return out


def explain(engine: sa.Engine, campaign_id: str) -> None:
    """The plans behind the pages and planning, for the record (on stderr)."""
    org = "(select org_id from campaigns where id = :c)"
    queries = [
        # planning: the due contacts of a campaign
        "select * from contacts where campaign_id = :c and state = 'waiting' "
        "and next_due_at <= now() order by next_due_at, id limit 501",
        # figures
        "select state, reason, count(*) from contacts where campaign_id = :c "
        "group by state, reason",
        # the contact page and its total
        "select * from contacts where campaign_id = :c order by created_at, id limit 100",
        "select count(*) from contacts where campaign_id = :c",
        # the calls list and its total
        f"select count(*) from attempts where org_id = {org}",
        "select a.*, c.agent_id, c.name, k.context from attempts a "
        "join campaigns c on c.id = a.campaign_id join contacts k on k.id = a.contact_id "
        f"where a.org_id = {org} order by a.created_at desc, a.id limit 20",
        # /metrics: the due contacts of every campaign
        "select count(*) from contacts where state = 'waiting' and next_due_at <= now()",
    ]
    with engine.connect() as conn:
        for q in queries:
            plan = conn.execute(sa.text("explain analyze " + q), {"c": campaign_id}).scalars()
            print("\n".join(["", q, *plan]), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PG_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--contacts", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--live", type=int, default=10, help="campaigns running")
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--requests", type=int, default=20, help="per page")
    parser.add_argument("--repeat", type=int, default=1, help="dispatch runs of each store")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--quick", action="store_true", help="500,000 contacts, 10,000 due")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.due, args.requests = 500_000, 10_000, 10

    def rate(full: bool) -> tuple[float, dict[str, Any]]:
        runs, pages = [], {}
        for _ in range(args.repeat):
            with Schema(args.url) as url:
                engine, live_ids, key = make_store(
                    url, args.contacts, args.campaigns, args.live, args.due, full
                )
                runs.append(dispatch_rate(engine, url, live_ids, args.due, args.workers))
                if full and not pages:
                    if args.explain:
                        explain(engine, live_ids[0])
                    with server(url) as base:
                        pages = latencies(base, key, live_ids[0], args.requests)
                engine.dispose()
        return statistics.median(runs), pages

    alone, _ = rate(full=False)
    print(f"{args.due:,} due contacts alone, {args.workers} worker(s): {alone:,.0f} attempts/s")
    crowded, pages = rate(full=True)
    ratio = crowded / alone
    print(
        f"the same among {args.contacts:,} contacts in {args.campaigns} campaigns: "
        f"{crowded:,.0f} attempts/s (ratio {ratio:.2f}, target 0.90)"
    )
    for name, figure in pages.items():
        if "median_ms" in figure:
            print(f"{name}: median {figure['median_ms']} ms, worst {figure['max_ms']} ms")
        else:
            print(f"{name}: {figure['status']}")
    if args.json is not None:
        figures = {
            "contacts": args.contacts,
            "campaigns": args.campaigns,
            "due": args.due,
            "workers": args.workers,
            "alone_attempts_per_s": round(alone),
            "crowded_attempts_per_s": round(crowded),
            "ratio": round(ratio, 3),
            "pages": pages,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
