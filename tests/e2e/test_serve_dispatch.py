"""End to end through the real server: SQLite, the embedded dispatcher, simulated calls.

200 contacts at 20 attempts per second, retries on no answer: every contact ends final,
no second ever holds more than 20 dials, and a pause stops new dials within a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ringcast.clock import SystemClock
from tests.support import running_serve, serve_env

RATE = 20
WALL = SystemClock()  # the server runs on wall time, so this test does too
CONTACTS = 200


@pytest.fixture
def server(tmp_path: Path):
    env = serve_env(
        tmp_path,
        sarvam_min_lead_s="0",
        simulator_outcomes="answered=0.6,no_answer=0.4",
        simulator_talk_s="0.3",
        simulator_ring_s="0.2",
    )
    run = [sys.executable, "-m", "ringcast"]
    key = json.loads(
        subprocess.run(
            [*run, "keys", "create", "--org", "acme", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hello {{ name }}")
    agent = json.loads(
        subprocess.run(
            [
                *run,
                "agents",
                "create",
                "--org",
                "acme",
                "--name",
                "A",
                "--prompt-file",
                str(prompt),
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["agent_id"]
    engine = sa.create_engine(env["RINGCAST_DATABASE_URL"])
    with running_serve(env) as (base, _proc):
        try:
            yield base, key, agent, engine
        finally:
            engine.dispose()


def test_campaign_runs_to_the_end_at_its_rate(server) -> None:
    """200 contacts at 20/s with retries: all final, never more than 20 dials in a second."""
    base, key, agent, engine = server
    api = f"{base}/api/scheduling/v1/orgs/{key['org_id']}/workspaces/{key['workspace_id']}"
    headers = {"X-API-Key": key["api_key"]}
    now = WALL.now()
    every_day = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    made = httpx.post(
        f"{api}/campaigns",
        headers=headers,
        json={
            "name": "e2e",
            "app_config": {
                "app_id": agent,
                "attempts_per_second": RATE,
                "retry_config": {
                    "max_retries": 2,
                    "retry_interval_minutes": 0.02,
                    "retry_on": {"no_answer": {"enabled": True}},
                },
            },
            "start_timestamp": (now + timedelta(seconds=1)).isoformat(),
            "end_timestamp": (now + timedelta(hours=1)).isoformat(),
            "allowed_schedule": {
                "allowed_start_time": "00:00",
                "allowed_end_time": "23:59",
                "allowed_days": every_day,
                "timezone": "UTC",
            },
        },
    )
    assert made.status_code == 201, made.text
    cid = made.json()["campaign_id"]
    users = [
        {"user_phone_number": f"+9198765{i:05d}", "app_variables": {"name": f"P{i}"}}
        for i in range(CONTACTS)
    ]
    assert (
        httpx.post(
            f"{api}/campaigns/{cid}/cohorts/stream",
            headers=headers,
            json={"name": "all", "users": users},
        ).status_code
        == 202
    )

    def dials() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from attempts")).scalar_one()

    # let it run, then pause and check that dialling stops within a second
    deadline = time.monotonic() + 30
    while dials() < 60:
        assert time.monotonic() < deadline, "no calls were placed"
        time.sleep(0.2)
    paused_at = WALL.now()
    assert (
        httpx.put(
            f"{api}/campaigns/{cid}/status", headers=headers, json={"action": "pause"}
        ).json()["status"]
        == "paused"
    )
    time.sleep(3)
    with engine.connect() as conn:
        late = conn.execute(
            sa.text("select count(*) from attempts where dialed_at > :t"),
            {"t": (paused_at + timedelta(seconds=1)).replace(tzinfo=None)},
        ).scalar_one()
    assert late == 0, f"{late} dials more than a second after the pause"
    resumed = httpx.put(f"{api}/campaigns/{cid}/status", headers=headers, json={"action": "resume"})
    assert resumed.json()["status"] == "scheduled"

    deadline = time.monotonic() + 120
    while True:
        with engine.connect() as conn:
            states = dict(
                conn.execute(
                    sa.text(
                        "select state, count(*) from contacts where campaign_id = :c group by state"
                    ),
                    {"c": cid},
                ).all()
            )
        if set(states) <= {"reached", "exhausted"} and sum(states.values()) == CONTACTS:
            break
        assert time.monotonic() < deadline, f"contacts not final: {states}"
        time.sleep(0.5)

    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select contact_id, number, dialed_at, outcome, retry_rule "
                "from attempts where campaign_id = :c"
            ),
            {"c": cid},
        ).all()
    per_second = Counter(str(r.dialed_at)[:19] for r in rows)
    assert max(per_second.values()) <= RATE, per_second.most_common(3)
    per_contact = Counter(r.contact_id for r in rows)
    assert len(per_contact) == CONTACTS and max(per_contact.values()) <= 3
    retried = [r for r in rows if r.number > 0]
    assert retried, "no retries happened"
    by_contact = {(r.contact_id, r.number): r for r in rows}
    for r in retried:  # a retry follows a no-answer that asked for it
        before = by_contact[(r.contact_id, r.number - 1)]
        assert before.outcome == "no_answer" and before.retry_rule == "retry"
    metrics = httpx.get(f"{base}/metrics").text
    completed = [
        line
        for line in metrics.splitlines()
        if line.startswith('ringcast_attempts_total{outcome="completed"}')
    ]
    assert completed and float(completed[0].split()[-1]) > 0
    assert (
        "ringcast_dial_lateness_seconds_bucket" in metrics
        and "ringcast_due_contacts 0.0" in metrics
    )
    busiest = max(per_second.values())
    print(f"e2e: {len(rows)} attempts, states {states}, busiest second {busiest}")
