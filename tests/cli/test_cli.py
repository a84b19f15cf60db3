"""The ``ringcast`` command, run as a person runs it: a subprocess on a fresh database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import get_args

import httpx
import pytest
import sqlalchemy as sa

from ringcast.cli.common import GatewayChoice, PolicyChoice
from ringcast.core.compliance import POLICIES
from ringcast.db.migrate import head_revision
from ringcast.services.connections import GATEWAYS
from tests.support import free_port

RINGCAST = [sys.executable, "-m", "ringcast"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    return {**clean, "RINGCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'rc.db'}"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RINGCAST, *args], env=env, capture_output=True, text=True, timeout=60)


def new_org(env: dict[str, str], org: str = "acme") -> dict[str, str]:
    """Create the organization the only way the command line does: by issuing it a key."""
    done = run(env, "keys", "create", "--org", org, "--json")
    assert done.returncode == 0, done.stderr
    issued: dict[str, str] = json.loads(done.stdout)
    return issued


def test_keys_create_json_and_stored_hashed(env: dict[str, str], tmp_path: Path) -> None:
    """keys create --json prints the ids and the key once; the database holds only a hash."""
    done = run(env, "keys", "create", "--org", "acme", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) >= {"org_id", "workspace_id", "api_key"}
    again = json.loads(run(env, "keys", "create", "--org", "acme", "--json").stdout)
    assert again["org_id"] == out["org_id"] and again["workspace_id"] == out["workspace_id"]
    assert again["api_key"] != out["api_key"]
    other = json.loads(
        run(env, "keys", "create", "--org", "acme", "--workspace", "sales", "--json").stdout
    )
    assert other["org_id"] == out["org_id"] and other["workspace_id"] != out["workspace_id"]

    dump = (tmp_path / "rc.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("rc.db-*")
    )
    assert out["api_key"].encode() not in dump
    secret = out["api_key"].split("_", 2)[2]  # the secret itself may contain "_"
    assert len(secret) >= 40 and secret.encode() not in dump


def test_keys_revoke(env: dict[str, str]) -> None:
    """A revoked key is marked revoked; an unknown prefix is an error."""
    key = json.loads(run(env, "keys", "create", "--org", "acme", "--json").stdout)
    done = run(env, "keys", "revoke", key["prefix"])
    assert done.returncode == 0 and key["prefix"] in done.stdout
    engine = sa.create_engine(env["RINGCAST_DATABASE_URL"])
    with engine.connect() as conn:
        revoked = conn.execute(
            sa.text("select revoked_at from api_keys where prefix = :p"), {"p": key["prefix"]}
        ).scalar()
    engine.dispose()
    assert revoked is not None
    missing = run(env, "keys", "revoke", "rc_00000000")
    assert missing.returncode == 1 and "no API key" in missing.stderr


def test_agents_create_declares_prompt_variables(env: dict[str, str], tmp_path: Path) -> None:
    """The prompt's {{ placeholders }} become the agent's variables."""
    new_org(env)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hello {{ firstName }}, order {{orderNumber}}. Bye {{ firstName }}.")
    done = run(
        env,
        "agents",
        "create",
        "--org",
        "acme",
        "--name",
        "Reminder",
        "--prompt-file",
        str(prompt),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    agent_id = json.loads(done.stdout)["agent_id"]
    engine = sa.create_engine(env["RINGCAST_DATABASE_URL"])
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "select a.type, v.variables from agents a "
                "join agent_versions v on v.agent_id = a.id where a.id = :i"
            ),
            {"i": agent_id},
        ).one()
    engine.dispose()
    assert row.type == "OUTBOUND"
    assert json.loads(row.variables) == ["firstName", "orderNumber"]
    inbound = run(
        env,
        "agents",
        "create",
        "--org",
        "acme",
        "--name",
        "Desk",
        "--prompt-file",
        str(prompt),
        "--type",
        "INBOUND",
    )
    assert inbound.returncode == 0 and re.search(r"[0-9a-f-]{36}", inbound.stdout)


def test_agents_create_refuses_a_missing_prompt_file(env: dict[str, str]) -> None:
    """A prompt file that does not exist is a usage error, not a traceback."""
    done = run(
        env, "agents", "create", "--org", "acme", "--name", "X", "--prompt-file", "/nonexistent"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_db_upgrade_reports_the_revision(env: dict[str, str]) -> None:
    """db upgrade migrates and says where the database now is: the newest revision; with
    --json as one object naming the database's file."""
    done = run(env, "db", "upgrade")
    assert done.returncode == 0 and f"revision {head_revision()}" in done.stdout
    again = run(env, "db", "upgrade", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "revision": head_revision(),
        "database": str(Path(env["RINGCAST_DATABASE_URL"].removeprefix("sqlite:///")).resolve()),
    }


def test_db_reseal_secrets_rotates_the_key(env: dict[str, str], tmp_path: Path) -> None:
    """A secret sealed with the old key is sealed again with the new one; afterwards the new
    key alone opens the database, and a key that opens nothing is refused by name."""
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with_old = {**env, "RINGCAST_SECRET_KEY": old, "RT_SECRET": "whsec_" + "k" * 32}
    new_org(with_old)
    done = run(
        with_old, "connections", "set", "--org", "acme", "rt", "--gateway", "http",
        "--url", "https://93.184.215.14", "--secret-env", "RT_SECRET",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    unopened = run({**env, "RINGCAST_SECRET_KEY": new}, "connections", "list", "--org", "acme")
    assert unopened.returncode == 1
    both = {**env, "RINGCAST_SECRET_KEY": f"{new},{old}"}
    resealed = run(both, "db", "reseal-secrets")
    assert resealed.returncode == 0, resealed.stderr
    assert "sealed 1 secrets again" in resealed.stdout  # the http runtime's secret
    assert "sealed 0 secrets again" in run(both, "db", "reseal-secrets").stdout
    listed = run({**env, "RINGCAST_SECRET_KEY": new}, "connections", "list", "--org", "acme")
    assert listed.returncode == 0 and "rt" in listed.stdout, listed.stderr
    refused = run({**env, "RINGCAST_SECRET_KEY": old}, "connections", "list", "--org", "acme")
    assert refused.returncode == 1 and "RINGCAST_SECRET_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_bad_database_url_is_a_clear_error(env: dict[str, str]) -> None:
    """An unsupported database URL is refused with a message, not a traceback."""
    done = run({**env, "RINGCAST_DATABASE_URL": "mysql://x"}, "keys", "create", "--org", "a")
    assert done.returncode == 1 and "unsupported database URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_creates_its_sqlite_database_and_answers(env: dict[str, str], tmp_path: Path) -> None:
    """serve on a fresh machine sets up its embedded database by itself and answers HTTP."""
    port = free_port()
    proc = subprocess.Popen(
        [*RINGCAST, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(
                        f"server did not start: {proc.stdout.read() if proc.stdout else ''}"
                    )
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert (tmp_path / "rc.db").exists()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # also closes the pipe


@pytest.mark.postgres
def test_postgres_needs_db_upgrade_first(env: dict[str, str], pg_engine_url: str) -> None:
    """On PostgreSQL the schema is upgraded on purpose; before that, commands say so."""
    pg_env = {**env, "RINGCAST_DATABASE_URL": pg_engine_url}
    no_key = run(pg_env, "keys", "create", "--org", "acme")
    assert no_key.returncode == 1 and "RINGCAST_SECRET_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    pg_env["RINGCAST_SECRET_KEY"] = os.environ["RINGCAST_SECRET_KEY"]  # the suite's own
    before = run(pg_env, "keys", "create", "--org", "acme")
    assert before.returncode == 1 and "ringcast db upgrade" in before.stderr
    assert run(pg_env, "db", "upgrade").returncode == 0
    after = run(pg_env, "keys", "create", "--org", "acme", "--json")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)["api_key"].startswith("rc_")


def test_connections_set_list_and_remove(env: dict[str, str]) -> None:
    """A connection registered from the command line; bad values exit 2 naming the field,
    and an http runtime's secret is read from the environment, never shown."""
    new_org(env)
    done = run(
        env, "connections", "set", "--org", "acme", "trunk-1", "--rate", "5",
        "--concurrent", "20", "--caller", "+33 1 86 95 00 00", "--outcomes", "answered=1",
    )  # fmt: skip
    assert done.returncode == 0 and "registered trunk-1" in done.stdout, done.stderr
    (shown,) = [json.loads(x) for x in run(env, "connections", "list", "--org", "acme", "--json")
                .stdout.splitlines()]  # fmt: skip
    assert shown["max_attempts_per_second"] == 5 and shown["max_concurrent"] == 20
    assert shown["caller_numbers"] == ["+33186950000"]
    assert shown["simulator"]["outcomes"] == "answered=1"
    bad = run(env, "connections", "set", "--org", "acme", "trunk-2", "--rate", "0")
    assert bad.returncode == 2 and "max_attempts_per_second" in bad.stderr
    assert "Traceback" not in bad.stderr
    no_secret = run(
        env, "connections", "set", "--org", "acme", "rt", "--gateway", "http",
        "--url", "https://93.184.215.14", "--secret-env", "RT_SECRET",
    )  # fmt: skip
    assert no_secret.returncode == 2 and "http.secret" in no_secret.stderr
    secret = "whsec_" + "k" * 32
    ok = run(
        {**env, "RT_SECRET": secret}, "connections", "set", "--org", "acme", "rt",
        "--gateway", "http", "--url", "https://93.184.215.14", "--secret-env", "RT_SECRET",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    listed = run(env, "connections", "list", "--org", "acme", "--json").stdout
    assert '"secret_set": true' in listed and secret not in listed
    assert run(env, "connections", "remove", "--org", "acme", "trunk-1").returncode == 0
    assert run(env, "connections", "remove", "--org", "acme", "trunk-1").returncode == 1


def test_connections_set_a_provider_from_a_file_and_the_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A provider connection takes its block from --settings-json and its secrets only from the
    environment variables named with the --*-env options; a secret in the file, a bad field or a
    private base URL exits 2 naming the field, and no secret is ever printed."""
    token, key, secret = "tw-token-kept-secret", "APIlkkey", "lk-secret-kept-secret"
    new_org(env)
    twilio = tmp_path / "twilio.json"
    twilio.write_text(json.dumps({
        "account_sid": "AC" + "0" * 32, "answer_url": "https://agent.example.com/twiml",
        "machine_detection": "Enable",
    }))  # fmt: skip
    done = run(
        {**env, "TW_TOKEN": token}, "connections", "set", "--org", "acme", "tw",
        "--gateway", "twilio", "--settings-json", str(twilio), "--auth-token-env", "TW_TOKEN",
        "--caller", "+33186950000", "--caller-max-per-hour", "30", "--caller-max-per-day", "100",
    )  # fmt: skip
    assert done.returncode == 0 and "registered tw" in done.stdout, done.stderr
    livekit = tmp_path / "livekit.json"
    livekit.write_text(json.dumps({
        "url": "wss://127.0.0.1:7880", "sip_trunk_id": "ST_1", "agent_name": "agent",
    }))  # fmt: skip
    lk = [
        "connections", "set", "--org", "acme", "lk", "--gateway", "livekit",
        "--settings-json", str(livekit), "--api-key-env", "LK_KEY", "--api-secret-env", "LK_SECRET",
    ]  # fmt: skip
    private = run({**env, "LK_KEY": key, "LK_SECRET": secret}, *lk)
    assert private.returncode == 2 and "livekit.url" in private.stderr, private.stderr
    allowed = {**env, "LK_KEY": key, "LK_SECRET": secret, "RINGCAST_WEBHOOKS_ALLOW_PRIVATE": "1"}
    assert run(allowed, *lk).returncode == 0
    shown = {
        c["connection_id"]: c
        for c in map(json.loads, run(env, "connections", "list", "--org", "acme", "--json")
                     .stdout.splitlines())
    }  # fmt: skip
    assert shown["tw"]["twilio"]["auth_token_set"] is True
    assert shown["tw"]["twilio"]["machine_detection"] == "Enable"
    assert shown["tw"]["caller_number_max_per_hour"] == 30
    assert shown["tw"]["caller_number_max_per_day"] == 100
    assert shown["lk"]["livekit"]["api_key_set"] and shown["lk"]["livekit"]["api_secret_set"]
    twilio.write_text(json.dumps({**json.loads(twilio.read_text()), "auth_token": token}))
    in_file = run(
        env, "connections", "set", "--org", "acme", "tw2", "--gateway", "twilio",
        "--settings-json", str(twilio),
    )  # fmt: skip
    assert in_file.returncode == 2 and "twilio.auth_token" in in_file.stderr
    assert "--auth-token-env" in in_file.stderr
    wrong_block = run(
        env, "connections", "set", "--org", "acme", "tw2", "--gateway", "retell",
        "--settings-json", str(livekit), "--api-key-env", "LK_KEY",
    )  # fmt: skip
    assert wrong_block.returncode == 2 and "retell.url" in wrong_block.stderr
    printed = (
        "".join(r.stdout + r.stderr for r in (done, private, in_file, wrong_block))
        + run(env, "connections", "list", "--org", "acme", "--json").stdout
    )
    assert token not in printed and key not in printed and secret not in printed


def test_refused_values_exit_as_each_command_always_has(env: dict[str, str]) -> None:
    """A value a rule refuses ends an account command with exit 1 and the rule's message,
    and any other command with exit 2 naming the field and the value; no traceback."""
    keys = run(env, "keys", "create", "--org", " ")
    assert keys.returncode == 1 and "org: must be 1 to 200 characters" in keys.stderr
    dnc = run(env, "dnc", "add", "--org", " ", "+33612345678")
    assert dnc.returncode == 2 and "org ' ': must be 1 to 200 characters" in dnc.stderr
    assert "Traceback" not in keys.stderr + dnc.stderr


def test_version_is_the_installed_package_version(env: dict[str, str]) -> None:
    """--version prints the version the package was installed with, and nothing else."""
    done = run(env, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"ringcast {version('ringcast')}"


def test_keys_list_shows_each_key_and_never_its_secret(env: dict[str, str]) -> None:
    """keys list shows the organization's keys (prefix, workspace, created, revoked), in
    text and as JSON lines, never a key's secret, and none of another organization's."""
    first = new_org(env)
    sales = json.loads(
        run(env, "keys", "create", "--org", "acme", "--workspace", "sales", "--json").stdout
    )
    other = new_org(env, "beta")
    assert run(env, "keys", "revoke", first["prefix"]).returncode == 0
    text = run(env, "keys", "list", "--org", "acme")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{first['prefix']}  default  ") and "revoked" in lines[0]
    assert lines[1].startswith(f"{sales['prefix']}  sales  ") and lines[1].endswith("live")
    listed = run(env, "keys", "list", "--org", "acme", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["prefix"], r["workspace"]) for r in rows] == [
        (first["prefix"], "default"),
        (sales["prefix"], "sales"),
    ]
    assert rows[0]["revoked_at"] is not None and rows[1]["revoked_at"] is None
    assert rows[1]["workspace_id"] == sales["workspace_id"] and rows[1]["created_at"]
    printed = text.stdout + text.stderr + listed.stdout + listed.stderr
    for issued in (first, sales):
        assert issued["api_key"] not in printed
        assert issued["api_key"].split("_", 2)[2] not in printed  # the secret part alone
    assert other["prefix"] not in printed


def test_agents_list_shows_the_organizations_agents(env: dict[str, str], tmp_path: Path) -> None:
    """agents list shows the organization's agents, oldest first, in text and as JSON
    lines (id, name, type, variables), and none of another organization's."""
    new_org(env)
    new_org(env, "beta")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hello {{ firstName }}")
    made = [
        json.loads(
            run(
                env, "agents", "create", "--org", org, "--name", name, "--prompt-file",
                str(prompt), "--type", kind, "--json",
            ).stdout
        )["agent_id"]
        for org, name, kind in [
            ("acme", "Reminder", "OUTBOUND"), ("acme", "Desk", "INBOUND"),
            ("beta", "Theirs", "OUTBOUND"),
        ]
    ]  # fmt: skip
    text = run(env, "agents", "list", "--org", "acme")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and "2 agents" in text.stderr
    assert lines[0].startswith(f"{made[0]}  Reminder  OUTBOUND  active")
    assert lines[1].startswith(f"{made[1]}  Desk  INBOUND  active")
    assert "firstName" in lines[0]
    listed = run(env, "agents", "list", "--org", "acme", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["agent_id"], r["name"], r["type"]) for r in rows] == [
        (made[0], "Reminder", "OUTBOUND"),
        (made[1], "Desk", "INBOUND"),
    ]
    assert rows[0]["variables"] == ["firstName"] and rows[0]["active"] is True
    assert made[2] not in text.stdout + listed.stdout


def test_a_mistyped_org_is_refused_naming_the_organizations(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A command that reads or changes settings refuses an organization that does not
    exist with exit 2, naming those that do, and never creates it; keys create does."""
    new_org(env, "beta")
    new_org(env, "acme")
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hi")
    refused = [
        run(env, "agents", "create", "--org", "acmee", "--name", "A", "--prompt-file", str(prompt)),
        run(env, "connections", "list", "--org", "acmee"),
        run(env, "connections", "set", "--org", "acmee", "trunk-1"),
        run(env, "keys", "list", "--org", "acmee"),
    ]
    for done in refused:
        assert done.returncode == 2, done.stdout + done.stderr
        assert 'error: no organization "acmee"; known: acme, beta' in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
    engine = sa.create_engine(env["RINGCAST_DATABASE_URL"])
    with engine.connect() as conn:
        names = conn.execute(sa.text("select name from organizations order by name")).scalars()
        assert list(names) == ["acme", "beta"]
        assert conn.execute(sa.text("select count(*) from agents")).scalar() == 0
        assert conn.execute(sa.text("select count(*) from connections")).scalar() == 0
    engine.dispose()


def test_choices_are_listed_and_a_wrong_one_is_a_usage_error(env: dict[str, str]) -> None:
    """--gateway and the policy are real choices: --help lists them, and a value outside
    them exits 2 naming the values allowed, before anything is written."""
    new_org(env)
    wide = {**env, "COLUMNS": "200"}
    helped = run(wide, "connections", "set", "--help")
    assert helped.returncode == 0 and "<simulator|http|twilio|livekit|retell>" in helped.stdout
    bad = run(wide, "connections", "set", "--org", "acme", "trunk-1", "--gateway", "twillio")
    assert bad.returncode == 2 and "'twillio'" in bad.stderr
    assert all(f"'{g}'" in bad.stderr for g in GATEWAYS), bad.stderr
    policy = run(wide, "policy", "set", "--org", "acme", "france")
    assert policy.returncode == 2 and all(f"'{p}'" in policy.stderr for p in POLICIES)
    listed = run(env, "connections", "list", "--org", "acme")
    assert listed.returncode == 0 and listed.stdout == ""


def test_the_cli_choices_are_the_services_own() -> None:
    """The choices the command line offers are exactly the gateways and policies the
    services accept, so neither can gain a value the other refuses."""
    assert get_args(GatewayChoice) == GATEWAYS
    assert get_args(PolicyChoice) == tuple(POLICIES)


def test_a_refused_setting_names_its_variable_and_value_but_never_a_secret(
    env: dict[str, str],
) -> None:
    """RINGCAST_PORT=abc is one error line naming the variable and the value, exit 1, no
    traceback; a refused secret is named but its value is not printed."""
    port = run({**env, "RINGCAST_PORT": "abc"}, "keys", "list", "--org", "acme")
    assert port.returncode == 1 and "Traceback" not in port.stderr
    assert "RINGCAST_PORT='abc'" in port.stderr
    secret = "not-base64-at-all!"
    bad = run({**env, "RINGCAST_HTTP_GATEWAY_SECRET": secret}, "keys", "list", "--org", "acme")
    assert bad.returncode == 1 and "RINGCAST_HTTP_GATEWAY_SECRET" in bad.stderr
    assert secret not in bad.stderr and secret not in bad.stdout


def test_settings_come_from_a_dot_env_file_below_the_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A .env in the current directory supplies RINGCAST_* settings; a variable set in the
    environment wins over the file."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    from_file = tmp_path / "from-file.db"
    (workdir / ".env").write_text(f"RINGCAST_DATABASE_URL=sqlite:///{from_file}\n")
    bare = {k: v for k, v in env.items() if k != "RINGCAST_DATABASE_URL"}
    made = subprocess.run(
        [*RINGCAST, "keys", "create", "--org", "acme", "--json"],
        env=bare, cwd=workdir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert from_file.exists()
    overridden = subprocess.run(
        [*RINGCAST, "keys", "create", "--org", "beta", "--json"],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert overridden.returncode == 0, overridden.stderr
    assert (tmp_path / "rc.db").exists()  # the environment's database, not the file's
