"""bench/export: a campaign's results as CSV, one row per contact, at 1,000,000 contacts.

Issue 17, target 5: the export of a 1,000,000-contact campaign streamed in under 10 s with
bounded memory. The campaign is made in a fresh PostgreSQL schema (a third of the contacts
called once, as bench/dashboard.py makes it); each export then runs in a process of its
own, through the real route (``GET /ringcast/v1/campaigns/{id}/export?format=csv`` of a
uvicorn server in that process), read by a streaming client to its end, so its peak memory (maxrss)
is the export's and not the set-up's. Prints rows per second and peak memory, medians
of --repeat runs, for ``rows=contacts`` and ``rows=attempts``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).parent))
import dashboard  # the seeding of bench/dashboard.py

PG_URL = os.environ.get("PG_BENCH_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def export_once(url: str, key: str, campaign_id: str, rows: str) -> dict[str, float]:
    """One export through the route of a uvicorn server in this process, read by a
    streaming client: seconds, rows, and the process's peak memory (server and client;
    the client keeps no more than a chunk)."""
    import socket
    import threading

    import httpx
    import uvicorn

    from ringcast.api.app import create_app
    from ringcast.clock import SystemClock
    from ringcast.config import Settings
    from ringcast.db.engine import make_engine
    from ringcast.db.store import SqlStore
    from ringcast.runtime import Runtime

    engine = make_engine(url)
    runtime = Runtime(Settings(database_url=url), engine, SqlStore(engine))
    app = create_app(runtime, SystemClock())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    lines = 0
    address = f"http://127.0.0.1:{port}/ringcast/v1/campaigns/{campaign_id}/export"
    start = time.perf_counter()
    with httpx.stream(
        "GET",
        address,
        params={"format": "csv", "rows": rows},
        headers={"X-Api-Key": key},
        timeout=120,
    ) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            lines += chunk.count(b"\n")
    spent = time.perf_counter() - start
    server.should_exit = True
    thread.join(timeout=10)
    runtime.close()
    return {"seconds": spent, "rows": lines - 1, "peak_mib": _peak_mib()}


def _peak_mib() -> float:
    """This process's peak resident memory. ``VmHWM``, not ``getrusage``'s ``ru_maxrss``:
    Linux keeps ru_maxrss across ``execve``, so a child would report its parent's peak
    (here: the set-up's, which holds a million rows)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="100,000 contacts")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(export_once(*args.child)))
        return
    contacts = 100_000 if args.quick else args.contacts
    os.environ.setdefault("RINGCAST_SECRET_KEY", Fernet.generate_key().decode())
    schema = f"bench_export_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    figures: dict[str, dict[str, float]] = {}
    try:
        from ringcast.db.engine import make_engine
        from ringcast.db.migrate import upgrade

        engine = make_engine(url)
        upgrade(engine)
        made = time.perf_counter()
        key, campaign_id = dashboard.seed(engine, contacts)
        engine.dispose()
        print(f"{contacts:,} contacts made in {time.perf_counter() - made:.0f} s", flush=True)
        for rows in ("contacts", "attempts"):
            runs = [
                json.loads(
                    subprocess.run(
                        [sys.executable, __file__, "--child", url, key, campaign_id, rows],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout.splitlines()[-1]
                )
                for _ in range(args.repeat)
            ]
            seconds = statistics.median(r["seconds"] for r in runs)
            count = runs[0]["rows"]
            peak = statistics.median(r["peak_mib"] for r in runs)
            figures[rows] = {"seconds": seconds, "rows": count, "peak_mib": peak}
            print(
                f"export rows={rows:<8} {count:>10,.0f} rows in {seconds:6.2f} s "
                f"({count / seconds:,.0f} rows/s), peak memory {peak:,.0f} MiB "
                f"(median of {args.repeat})",
                flush=True,
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
