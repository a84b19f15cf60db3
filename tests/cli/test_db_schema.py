"""``ringcast db current|history``, and every command refusing a database a newer ringcast
migrated: run as a person runs them, a subprocess on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ringcast.db.migrate import head_revision, history

RINGCAST = [sys.executable, "-m", "ringcast"]
UNKNOWN = "9999_from_the_future"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    return {**clean, "RINGCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'rc.db'}"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RINGCAST, *args], env=env, capture_output=True, text=True, timeout=60)


def _stamp(env: dict[str, str], revision: str) -> None:
    engine = sa.create_engine(env["RINGCAST_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_db_current_says_where_the_schema_stands(env: dict[str, str], tmp_path: Path) -> None:
    """current reads a missing database without creating it, then sees the head after an
    upgrade, an older revision as behind, and an unknown one as newer, in text and JSON."""
    before = run(env, "db", "current", "--json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == {
        "revision": None, "head": head_revision(), "is_head": False, "is_newer": False,
        "database": str((tmp_path / "rc.db").resolve()),
    }  # fmt: skip
    assert not (tmp_path / "rc.db").exists()
    assert run(env, "db", "upgrade").returncode == 0
    at_head = run(env, "db", "current")
    assert at_head.stdout.strip() == f"{head_revision()} (head)"
    older = history()[1].revision
    _stamp(env, older)
    behind = run(env, "db", "current")
    assert behind.stdout.startswith(older) and "ringcast db upgrade" in behind.stdout
    _stamp(env, UNKNOWN)
    newer = json.loads(run(env, "db", "current", "--json").stdout)
    assert newer["revision"] == UNKNOWN and newer["is_newer"] and not newer["is_head"]


def test_db_history_lists_newest_first_marking_the_current(env: dict[str, str]) -> None:
    """history lists every migration newest first, the head marked, and the database's
    current revision marked wherever it is."""
    assert run(env, "db", "upgrade").returncode == 0
    older = history()[2].revision
    _stamp(env, older)
    done = run(env, "db", "history")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [m.revision for m in history()]
    assert lines[0].split()[0] == head_revision() and lines[0].endswith("(head)")
    assert lines[2].endswith("(current)")
    assert sum("current" in line for line in lines) == 1
    as_json = [json.loads(x) for x in run(env, "db", "history", "--json").stdout.splitlines()]
    assert as_json[0]["marks"] == ["head"] and as_json[2]["marks"] == ["current"]
    revisions = [int(m["revision"][:4]) for m in as_json]
    assert revisions == sorted(revisions, reverse=True)


@pytest.mark.parametrize(
    "command",
    [["serve"], ["worker"], ["db", "upgrade"], ["keys", "create", "--org", "acme"]],
    ids=" ".join,
)
def test_a_database_a_newer_ringcast_migrated_is_refused(
    env: dict[str, str], command: list[str]
) -> None:
    """Against a revision it does not know, the server, a worker, an upgrade and any other
    command print one error line naming the revision and exit 1, never a traceback, and
    leave the database as it was."""
    assert run(env, "db", "upgrade").returncode == 0
    _stamp(env, UNKNOWN)
    done = run(env, *command)
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and UNKNOWN in errors[0] and "newer ringcast" in errors[0]
    assert "Traceback" not in done.stderr
    assert json.loads(run(env, "db", "current", "--json").stdout)["revision"] == UNKNOWN


def test_db_current_on_a_database_that_does_not_answer(env: dict[str, str]) -> None:
    """Nothing listening where the database should be: one ``error:`` line, exit 1."""
    url = "postgresql+psycopg://ringcast@127.0.0.1:1/nothing-here"
    done = run({**env, "RINGCAST_DATABASE_URL": url}, "db", "current")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach the database")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
