"""bench/dashboard: the dashboard's server time on a campaign of 100,000 contacts, and the
export's rows per second.

Seeds one campaign (contacts in every state, a third of them called once) in a fresh
SQLite file, or a fresh schema on PostgreSQL with --url, then asks the app in process
(the same ASGI app ``ringcast serve`` runs; no network, so the figures are server time):

* the campaign page (first contacts page and calls), deep contact pages by keyset, a
  number search, a state filter, the live fragment, the charts' data, the forecast;
* the campaigns list;
* the CSV export, one row per contact and one per attempt: rows per second.

Run: .venv/bin/python bench/dashboard.py [--contacts 100000] [--url postgresql+psycopg://...]
Figures are medians over --repeat requests (the forecast and the exports run once).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from ringcast.api.app import create_app
from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.crypto import SECRET_KEY_ENV
from ringcast.db import tables as t
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.records import Dialect
from ringcast.runtime import Runtime
from ringcast.services import accounts, campaigns
from ringcast.services.direct_calls import ALWAYS

OUTCOMES = ["completed", "no_answer", "busy", "voicemail", "failed"]


def seed(engine: sa.Engine, n: int) -> tuple[str, str]:
    """An account and one active campaign of ``n`` contacts; the key and the campaign id."""
    store, clock = SqlStore(engine), SystemClock()
    issued = accounts.issue_key(store, clock, "bench")
    agent = accounts.register_agent(store, clock, "bench", "A", "Hi {{ name }}")
    config = CampaignConfig(
        "", CampaignStatus.SCHEDULED, Schedule(ALWAYS), PacingLimits(), RetryPolicy()
    )
    made = campaigns.create(
        store,
        clock,
        campaigns.NewCampaign(
            issued.organization.id,
            issued.workspace.id,
            "bench",
            agent.id,
            "agentId",
            Dialect.NATIVE,
            config,
        ),
    )
    store.set_campaign_status(made.id, CampaignStatus.PAUSED, clock.now())
    now = clock.now()
    for start in range(0, n, 10_000):
        people = [
            campaigns.Recipient(f"+33{600000000 + i}", {"name": f"P{i}", "city": "Lyon"})
            for i in range(start, min(n, start + 10_000))
        ]
        store.add_contacts(made.id, campaigns.contacts_for(made.id, people, now), now)
    _call_a_third(engine, made.id, issued.organization.id)
    return issued.plaintext, made.id


def _call_a_third(engine: sa.Engine, campaign_id: str, org_id: str) -> None:
    """Every third contact called once over the last day: reached or exhausted by outcome."""
    k, a = t.contacts, t.attempts
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(k.c.id, k.c.phone).where(k.c.campaign_id == campaign_id).order_by(k.c.id)
        ).all()
        called = rows[::3]
        start = SystemClock().now() - timedelta(days=1)
        values = []
        for i, (contact_id, phone) in enumerate(called):
            at = start + timedelta(seconds=i * 86_000 / max(1, len(called)))
            values.append({
                "id": str(uuid.uuid4()), "contact_id": contact_id, "campaign_id": campaign_id,
                "org_id": org_id, "phone": phone, "number": 0, "state": "ended",
                "outcome": OUTCOMES[i % len(OUTCOMES)], "due_at": at, "dialed_at": at,
                "ended_at": at + timedelta(seconds=30), "duration_s": 30.0 if i % 5 == 0 else None,
                "qualifiers": [], "variables": {}, "dropped_variables": [], "created_at": at,
            })  # fmt: skip
        for i in range(0, len(values), 5_000):
            conn.execute(a.insert(), values[i : i + 5_000])
        reached = [v["contact_id"] for v in values if v["outcome"] == "completed"]
        exhausted = [v["contact_id"] for v in values if v["outcome"] != "completed"]
        for ids, state in ((reached, "reached"), (exhausted, "exhausted")):
            for i in range(0, len(ids), 5_000):
                conn.execute(
                    k.update()
                    .where(k.c.id.in_(ids[i : i + 5_000]))
                    .values(state=state, attempts=1, next_due_at=None)
                )


def timed(request: Callable[[], object], repeat: int) -> float:
    """The median time of ``repeat`` calls, in milliseconds."""
    spent = []
    for _ in range(repeat):
        began = time.perf_counter()
        request()
        spent.append((time.perf_counter() - began) * 1000)
    return statistics.median(spent)


def measure(url: str, contacts: int, repeat: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    began = time.perf_counter()
    key, campaign_id = seed(engine, contacts)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # what autovacuum does after a bulk load
            conn.exec_driver_sql("ANALYZE contacts")
            conn.exec_driver_sql("ANALYZE attempts")
    spent = time.perf_counter() - began
    print(f"seeded {contacts:,} contacts in {spent:.1f} s ({engine.dialect.name})")
    settings = Settings(database_url=url, data_dir=tempfile.mkdtemp())
    app = create_app(Runtime(settings, engine, SqlStore(engine)), SystemClock())
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/sign-in").text)
        assert token is not None
        client.post("/ui/sign-in", data={"api_key": key, "csrf_token": token.group(1)})
        page = f"/ui/campaigns/{campaign_id}"

        def get(path: str) -> Callable[[], object]:
            def run() -> object:
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                return answer

            return run

        middle = f"+33{600000000 + contacts // 2}"
        cases = {
            "campaigns list": "/ui/",
            "campaign page": page,
            "campaign page, contacts after the middle (keyset)": f"{page}?after={middle}",
            "campaign page, number search": f"{page}?number=336000012",
            "campaign page, state=reached": f"{page}?state=reached",
            "campaign page, calls page 100": f"{page}?calls_page=100",
            "live fragment (polled every 3 s)": f"{page}/live",
            "calls fragment (polled every 5 s)": f"{page}/calls",
            "charts.json": f"{page}/charts.json",
        }
        print(f"server time, median of {repeat}:")
        for name, path in cases.items():
            print(f"  {name:<52} {timed(get(path), repeat):8.1f} ms")
        print(f"  {'forecast.json (once)':<52} {timed(get(f'{page}/forecast.json'), 1):8.1f} ms")
        for rows in ("contacts", "attempts"):
            began = time.perf_counter()
            lines = 0
            with client.stream("GET", f"{page}/export.csv?rows={rows}") as answer:
                for chunk in answer.iter_text():
                    lines += chunk.count("\n")
            spent = time.perf_counter() - began
            print(
                f"  export.csv rows={rows:<9} {lines - 1:>9,} rows in {spent:6.2f} s"
                f" = {(lines - 1) / spent:,.0f} rows/s"
            )
    if engine.dialect.name == "postgresql":
        explain(engine, campaign_id)
    engine.dispose()


def explain(engine: sa.Engine, campaign_id: str) -> None:
    """PostgreSQL's plan for a deep contacts page: an index scan from the key, no sort."""
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN ANALYZE SELECT * FROM contacts WHERE campaign_id = %(c)s AND NOT repeatable"
            " AND phone > '+33600050000' ORDER BY phone LIMIT 51",
            {"c": campaign_id},
        ).all()
    print("plan of a deep contacts page:")
    for (line,) in plan:
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--url", help="PostgreSQL URL (a fresh schema is made and dropped)")
    args = parser.parse_args()
    if args.url:
        # every process on a PostgreSQL database holds the secret key
        os.environ.setdefault(SECRET_KEY_ENV, Fernet.generate_key().decode())
        schema = f"bench_ui_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(args.url, poolclass=sa.NullPool)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            measure(f"{args.url}?options=-csearch_path%3D{schema}", args.contacts, args.repeat)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        return
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{Path(folder) / 'bench.db'}", args.contacts, args.repeat)


if __name__ == "__main__":
    main()
