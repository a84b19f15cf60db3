"""Workers ride out a PostgreSQL restart by themselves, and nothing is lost.

The test starts a private PostgreSQL instance (never the shared one), runs two workers
over a campaign, stops the database with ``pg_ctl stop -m immediate`` mid-run, starts it
again, and checks that every contact still ends final with no attempt dialled twice.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ringcast.clock import SystemClock
from ringcast.core.pacing import PacingLimits
from ringcast.crypto import SECRET_KEY_ENV
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from tests.conftest import PG_SECRET_KEY
from tests.support import always_open_campaign, free_port, worker_env

pytestmark = pytest.mark.postgres
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1:] or [""]
CONTACTS = 300


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture
def private_pg() -> Iterator[tuple[str, Path, int]]:
    initdb = Path(BIN[0]) / "initdb"
    if not initdb.exists() or shutil.which("runuser") is None:
        if os.environ.get("CI"):
            pytest.fail("initdb/runuser are needed for the database restart test under CI")
        pytest.skip("no initdb here")
    # the server runs as the postgres user, which must own its directory
    root = Path(tempfile.mkdtemp(prefix="ringcast-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data = root / "data"
    subprocess.run(
        _as_postgres(str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True,
        capture_output=True,
    )
    port = free_port()
    pg_ctl = str(Path(BIN[0]) / "pg_ctl")
    start = _as_postgres(
        pg_ctl,
        "-D",
        str(data),
        "-w",
        "-l",
        str(root / "log"),
        "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1",
        "start",
    )
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield pg_ctl, data, port
    finally:
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop"), capture_output=True
        )


def test_workers_carry_on_after_a_database_restart(
    private_pg, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stop PostgreSQL for a few seconds mid-run: all contacts still end final, none twice."""
    pg_ctl, data, port = private_pg
    monkeypatch.setenv(SECRET_KEY_ENV, PG_SECRET_KEY)  # this process and its workers share it
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    engine = make_engine(url)
    upgrade(engine)
    store, clock = SqlStore(engine), SystemClock()
    made = always_open_campaign(
        store,
        clock,
        [f"+3361234{i:04d}" for i in range(CONTACTS)],
        PacingLimits(attempts_per_second=40),
    )
    # A plan whose commit reached the disk while its acknowledgement was lost in the stop
    # leaves attempts no worker dials; the reconciler ends them once their call lease
    # runs out. The default lease (2 h) outlasts this test, so it is 30 s here: longer
    # than the outage and the workers' backoff, so that no call still going is reconciled.
    log = tmp_path / "dials.log"
    env = worker_env(url, call_lease_s="30", simulator_dial_log=str(log))
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ringcast", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]

    def count(sql: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar_one())

    try:
        deadline = time.monotonic() + 60
        while count("select count(*) from attempts") < 60:
            assert time.monotonic() < deadline, "no calls before the restart"
            time.sleep(0.2)
        engine.dispose()
        subprocess.run(
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop"),
            check=True,
            capture_output=True,
        )
        time.sleep(4)
        subprocess.run(
            _as_postgres(
                pg_ctl,
                "-D",
                str(data),
                "-w",
                "start",
                "-o",
                f"-p {port} -k {data.parent} -c listen_addresses=127.0.0.1",
                "-l",
                str(data.parent / "log"),
            ),
            check=True,
            capture_output=True,
        )
        restarted_at = clock.now()
        deadline = time.monotonic() + 120
        while (
            count(
                f"select count(*) from contacts where state not in ('reached', 'exhausted') "
                f"and campaign_id = '{made.id}'"
            )
            > 0
        ):
            dead = [w for w in workers if w.poll() is not None]
            assert not dead, [w.communicate()[1][-2000:] for w in dead]
            assert time.monotonic() < deadline, "contacts were left unfinished after the restart"
            time.sleep(0.5)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.communicate(timeout=30)
    assert all(w.returncode is not None for w in workers)
    assert count("select count(*) from contacts") == CONTACTS
    with engine.connect() as conn:
        after = conn.execute(
            sa.text("select count(*) from attempts where dialed_at > :t"), {"t": restarted_at}
        ).scalar_one()
    assert after > 0, "nothing was dialled after the restart: the workers did not carry on"
    # every call answers, so each number is dialled once (the simulator's own log, kept
    # outside the workers), and every dial is an attempt the database holds
    dials = [line.split() for line in log.read_text().splitlines()]
    twice = [n for n, times in Counter(number for _, number, _ in dials).items() if times > 1]
    assert twice == [], f"{len(twice)} numbers dialled twice"
    with engine.connect() as conn:
        known = {r.id for r in conn.execute(sa.text("select id from attempts")).all()}
    assert {attempt_id for attempt_id, _, _ in dials} <= known
    engine.dispose()
