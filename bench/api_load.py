"""bench/api_load: the HTTP API under load, measured with ``wrk`` (Debian's ``wrk`` package).

The server: ``ringcast.api.asgi:app`` under uvicorn with ``--processes`` (2) processes on
PostgreSQL, as ``ringcast serve`` runs it, the embedded dispatcher off (calls are not the
subject here), on loopback. Volubile's rate limit (100 requests per 15 s) and the live
campaigns limit are lifted through their settings (``RINGCAST_RATE_LIMIT_REQUESTS``,
``RINGCAST_SARVAM_MAX_LIVE_CAMPAIGNS``), never by patching.

The data: 100,000 contacts in 10 campaigns of 5 organizations, about half of them called
once (``bench/scale.py``'s generator), so that the calls list pages over tens of
thousands of calls.

Measures requests per second and latency p50/p99 (wrk's ``--latency``) of
``GET /v1/campaigns/{id}``, ``GET /v1/calls`` and ``POST /v1/campaigns`` with 1,000
recipients (a Lua script sends the body), each for ``--duration`` seconds with
``--connections`` connections, and counts any answer that is not a 2xx.

Run: apt-get install -y wrk; .venv/bin/python bench/api_load.py [--duration 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import make_store, server

from dispatch import DEFAULT_URL, Schema

#: what wrk prints after the run, with ``--latency``
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_PCT = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TOTAL = re.compile(r"(\d+) requests in")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

POST_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = "{key}"
wrk.body = [[{body}]]
"""


def create_body(agent_id: str, recipients: int) -> dict[str, Any]:
    """A Volubile create body with ``recipients`` distinct numbers."""
    return {
        "name": "load",
        "agentId": agent_id,
        "startDate": "2030-06-03",
        "timeSlots": [{"startTime": "10:00", "endTime": "13:00"}],
        "batchSize": 1000,
        "days": ["MONDAY", "TUESDAY", "WEDNESDAY"],
        "recipients": [
            {"phone": f"+3361{i:07d}", "context": {"firstName": "Ada"}} for i in range(recipients)
        ],
        "timezone": "Europe/Paris",
        "retry": {"max": 2, "delay": 3, "retryOn": ["NO_ANSWER"]},
    }


def wrk(
    url: str, key: str, seconds: int, connections: int, script: Path | None = None
) -> dict[str, Any]:
    argv = ["wrk", "--latency", "-t", "2", "-c", str(connections), "-d", f"{seconds}s"]
    argv += ["-H", f"X-Api-Key: {key}"]
    if script is not None:
        argv += ["-s", str(script)]
    done = subprocess.run([*argv, url], capture_output=True, text=True, check=True)
    out = done.stdout
    pct = {p: float(v) * _UNIT_MS[u] for p, v, u in _PCT.findall(out)}
    non2xx = _NON2XX.search(out)
    total = _TOTAL.search(out)
    return {
        "requests_per_s": round(float(_RATE.search(out).group(1)), 1),  # type: ignore[union-attr]
        "p50_ms": round(pct.get("50", float("nan")), 1),
        "p99_ms": round(pct.get("99", float("nan")), 1),
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def agent_of(url: str, key: str) -> str:
    import httpx

    r = httpx.get(f"{url}/v1/agents", headers={"X-Api-Key": key}, timeout=30)
    r.raise_for_status()
    body = r.json()
    items = body["content"] if isinstance(body, dict) and "content" in body else body
    return str(items[0]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PG_BENCH_URL", DEFAULT_URL))
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="3 s per endpoint, less data")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed: apt-get install -y wrk")
    contacts = 20_000 if args.quick else 100_000
    if args.quick:
        args.duration = 3

    figures: dict[str, Any] = {"processes": args.processes, "connections": args.connections}
    with Schema(args.url) as url, tempfile.TemporaryDirectory() as tmp:
        engine, live, key = make_store(url, contacts, 10, 1, 1_000, full=True)
        with server(url, args.processes, RINGCAST_SARVAM_MAX_LIVE_CAMPAIGNS="1000000") as base:
            script = Path(tmp) / "post.lua"
            body = json.dumps(create_body(agent_of(base, key), args.recipients))
            script.write_text(POST_SCRIPT.format(key=key, body=body))
            runs = {
                "GET /v1/campaigns/{id}": (f"{base}/v1/campaigns/{live[0]}", None),
                "GET /v1/calls": (f"{base}/v1/calls?page=1&size=20", None),
                f"POST /v1/campaigns ({args.recipients} recipients)": (
                    f"{base}/v1/campaigns",
                    script,
                ),
            }
            for name, (target, lua) in runs.items():
                got = wrk(target, key, args.duration, args.connections, lua)
                figures[name] = got
                print(
                    f"{name}: {got['requests_per_s']:,.1f} req/s, p50 {got['p50_ms']} ms, "
                    f"p99 {got['p99_ms']} ms ({got['requests']} requests, "
                    f"{got['non_2xx']} not 2xx)"
                )
        engine.dispose()
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
