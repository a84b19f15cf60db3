"""Where the command line keeps its database when told nothing, how it shows it, how
each expected failure reads (one ``error:`` line, exit non-zero, never a traceback), and
``--json`` on every command that prints something."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from ringcast.cli import app
from ringcast.cli.common import database_shown
from ringcast.config import Settings, data_home, default_database_url
from ringcast.crypto import SECRET_KEY_ENV
from ringcast.db.engine import CONNECT_TIMEOUT_S, make_engine
from tests.conftest import PG_SECRET_KEY


def cli(*args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def test_the_default_database_is_one_file_in_the_xdg_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without RINGCAST_DATABASE_URL the database is ``$XDG_DATA_HOME/ringcast/ringcast.db``,
    else ``~/.local/share/ringcast/ringcast.db`` (a relative XDG_DATA_HOME is ignored, as
    the XDG rule says); RINGCAST_DATABASE_URL still wins."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'xdg' / 'ringcast' / 'ringcast.db'}"
    assert Settings().database_url == default_database_url()
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_home() == tmp_path / "home" / ".local" / "share" / "ringcast"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data_home() == tmp_path / "home" / ".local" / "share" / "ringcast"
    assert Settings(database_url="sqlite:///x.db").database_url == "sqlite:///x.db"


def test_a_key_made_anywhere_lands_in_the_one_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commands run in two directories with no RINGCAST_DATABASE_URL use the same
    database, made with its directory on first use; ``db current`` prints where it is as
    an absolute path."""
    xdg = tmp_path / "xdg"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    made = cli("keys", "create", "--org", "one", XDG_DATA_HOME=str(xdg))
    assert made.exit_code == 0, made.output
    monkeypatch.chdir(tmp_path)
    expected = (xdg / "ringcast" / "ringcast.db").resolve()
    assert expected.exists() and not (elsewhere / "ringcast.db").exists()
    here = cli("keys", "create", "--org", "two", XDG_DATA_HOME=str(xdg))
    assert here.exit_code == 0, here.output
    assert not (tmp_path / "ringcast.db").exists()
    listed = cli("keys", "list", "--org", "one", XDG_DATA_HOME=str(xdg))
    assert listed.exit_code == 0 and "1 keys" in listed.stderr
    current = cli("db", "current", XDG_DATA_HOME=str(xdg))
    assert current.exit_code == 0 and f"database: {expected}" in current.stderr
    shown = json.loads(cli("db", "current", "--json", XDG_DATA_HOME=str(xdg)).stdout)
    assert shown["database"] == str(expected) and shown["is_head"]


def test_the_database_is_shown_absolute_and_without_its_password() -> None:
    """What serve, worker and db current print: a SQLite file as an absolute path even when
    the URL is relative; a PostgreSQL URL without its password."""
    relative = Settings(database_url="sqlite:///data/rc.db")
    assert database_shown(relative) == str(Path("data/rc.db").resolve())
    pg = Settings(database_url="postgresql://ringcast:s3cret@db.example:5432/ringcast")
    shown = database_shown(pg)
    assert "s3cret" not in shown and shown.endswith("@db.example:5432/ringcast")


def one_error_line(done: Result, code: int = 1) -> str:
    assert done.exit_code == code, done.output
    assert done.stdout == "" and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def test_an_unreachable_database_is_one_error_line_within_seconds() -> None:
    """Nothing listening where PostgreSQL should be: one ``error:`` line, exit 1, quickly."""
    started = time.monotonic()
    line = one_error_line(
        cli(
            "campaigns", "list", "--org", "acme",
            RINGCAST_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x",
            RINGCAST_SECRET_KEY=PG_SECRET_KEY,
        )
    )  # fmt: skip
    assert line.startswith("error: cannot reach the database") and "127.0.0.1" in line
    assert time.monotonic() - started < 10


@pytest.mark.postgres
def test_an_unmigrated_postgresql_is_one_error_line(pg_engine_url: str) -> None:
    """A PostgreSQL database nobody migrated: one line saying to run ``ringcast db upgrade``."""
    line = one_error_line(
        cli("campaigns", "list", "--org", "acme", RINGCAST_DATABASE_URL=pg_engine_url)
    )
    assert "run `ringcast db upgrade`" in line
    assert os.environ[SECRET_KEY_ENV]  # the fixture's key: the schema, not the key, refused


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"RINGCAST_GATEWAY": "http"},
            ["RINGCAST_HTTP_GATEWAY_URL", "RINGCAST_HTTP_GATEWAY_SECRET"],
        ),
        (
            {"RINGCAST_GATEWAY": "http", "RINGCAST_HTTP_GATEWAY_SECRET": "whsec_" + "k" * 32},
            ["RINGCAST_HTTP_GATEWAY_URL"],
        ),
        ({"RINGCAST_PORT": "abc"}, ["RINGCAST_PORT", "'abc'"]),
    ],
)
def test_a_bad_or_incomplete_setting_is_one_error_line(
    env: dict[str, str], named: list[str], tmp_path: Path
) -> None:
    """A refused setting (RINGCAST_PORT=abc) or an incomplete one (the http gateway without
    its URL) stops every command with one line naming the variables, exit 1."""
    for command in (["campaigns", "list", "--org", "acme"], ["worker"], ["serve"]):
        line = one_error_line(
            cli(*command, RINGCAST_DATABASE_URL=f"sqlite:///{tmp_path / 'rc.db'}", **env)
        )
        assert all(n in line for n in named), line
    assert not (tmp_path / "rc.db").exists()


def test_every_command_that_prints_takes_json(tmp_path: Path) -> None:
    """--json prints machine-readable objects on stdout for the commands that had only
    text: keys revoke, policy set, dnc add/remove/import, connections set/remove, db
    reseal-secrets (db upgrade: tests/cli/test_cli.py, in a process of its own since it
    sets up logging)."""
    env = {"RINGCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'rc.db'}"}
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("+33612345678\nnot-a-number\n")

    def as_json(*args: str) -> dict[str, object]:
        done = CliRunner().invoke(app, [*args, "--json"], env=env)
        assert done.exit_code == 0, done.output
        parsed: dict[str, object] = json.loads(done.stdout)
        return parsed

    key = as_json("keys", "create", "--org", "acme")
    assert as_json("keys", "revoke", str(key["prefix"])) == {"revoked": key["prefix"]}
    assert as_json("policy", "set", "--org", "acme", "fr") == {"org": "acme", "policy": "fr"}
    assert as_json("dnc", "add", "--org", "acme", "+33612345679") == {
        "added": 1, "already_listed": 0
    }  # fmt: skip
    assert as_json("dnc", "remove", "--org", "acme", "+33612345679") == {"removed": "+33612345679"}
    imported = as_json("dnc", "import", "--org", "acme", str(numbers))
    assert imported["added"] == 1 and len(imported["rejected"]) == 1  # type: ignore[arg-type]
    made = as_json("connections", "set", "--org", "acme", "trunk-1", "--rate", "5")
    assert made["created"] is True and made["connection_id"] == "trunk-1"
    assert as_json("connections", "remove", "--org", "acme", "trunk-1") == {"removed": "trunk-1"}
    assert as_json("db", "reseal-secrets") == {"sealed": 0}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://nobody@127.0.0.1:1/x", CONNECT_TIMEOUT_S),
        ("postgresql+psycopg://nobody@127.0.0.1:1/x?connect_timeout=30", "30"),
    ],
)
def test_postgresql_connections_wait_seconds_not_minutes(url: str, expected: object) -> None:
    """A PostgreSQL engine asks libpq for a connect timeout (libpq's own default is to
    wait as long as the network does), unless the URL sets one itself."""
    engine = make_engine(url)
    asked: dict[str, object] = {}

    @sa.event.listens_for(engine, "do_connect")
    def _seen(_dialect: object, _record: object, _args: object, params: dict[str, object]) -> None:
        asked.update(params)

    with pytest.raises(sa.exc.OperationalError):
        engine.connect()
    engine.dispose()
    assert asked["connect_timeout"] == expected
