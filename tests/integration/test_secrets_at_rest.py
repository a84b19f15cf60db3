"""Secrets at rest: connection credentials and webhook secrets are encrypted in the
database, read back in plaintext, re-encrypted after a key rotation, and a missing or
wrong key is a clear refusal, never a garbage read."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from ringcast.config import Settings
from ringcast.crypto import MARK, SECRET_KEY_ENV, SecretBox, SecretKeyError, new_key
from ringcast.db.engine import make_engine
from ringcast.db.migrate import upgrade
from ringcast.db.store import SqlStore
from ringcast.records import Connection
from ringcast.runtime import SecretKeyUnusable, open_runtime
from tests.integration.factories import T0, new_id

OLD, NEW = new_key(), new_key()

#: every kind of secret a connection holds, flat (as the http runtime keeps its own) and
#: under the gateway's name
SETTINGS: dict[str, dict[str, Any]] = {
    "http-1": {"url": "https://runtime.example", "secret": "whsec_runtime-secret-0001"},
    "twilio-1": {
        "twilio": {"account_sid": "AC0001", "auth_token": "twilio-auth-token-0002"},
        "caller_number_max_per_hour": 30,
    },
    "livekit-1": {"livekit": {"api_key": "lk-api-key-0003", "api_secret": "lk-api-secret-0004"}},
    "retell-1": {"api_key": "retell-api-key-0005", "agent_id": "agent_0001"},
}
WEBHOOK_SECRET = "account-webhook-secret-0006-long-enough"
SIGNING_SECRET = "whsec_signing-secret-0007"
PLAINTEXTS = [
    "whsec_runtime-secret-0001",
    "twilio-auth-token-0002",
    "lk-api-key-0003",
    "lk-api-secret-0004",
    "retell-api-key-0005",
    WEBHOOK_SECRET,
    SIGNING_SECRET,
]


def connection(org_id: str, connection_id: str) -> Connection:
    return Connection(
        org_id,
        connection_id,
        connection_id,
        "http",
        SETTINGS[connection_id],
        (),
        None,
        None,
        T0,
        T0,
    )


def store_secrets(store: SqlStore) -> str:
    """Every kind of secret, written through the store; the organization's id."""
    org = store.ensure_organization(new_id(), f"org-{new_id()[:8]}", T0).id
    for connection_id in SETTINGS:
        store.put_connection(connection(org, connection_id))
    store.set_account_webhook(org, "https://hooks.example", WEBHOOK_SECRET)
    assert store.signing_secret(org, lambda: SIGNING_SECRET) == SIGNING_SECRET
    return org


def raw_rows(engine: sa.Engine) -> str:
    """The organizations' and connections' rows as plain SQL reads them."""
    with engine.connect() as conn:
        return repr(
            conn.execute(sa.text("SELECT * FROM organizations")).all()
            + conn.execute(sa.text("SELECT * FROM connections")).all()
        )


def read_back(store: SqlStore, org: str) -> None:
    """Every secret reads back in plaintext."""
    for connection_id, settings in SETTINGS.items():
        found = store.get_connection(org, connection_id)
        assert found is not None and found.settings == settings
    assert [c.settings for c in store.list_connections(org)] == [
        SETTINGS[k] for k in sorted(SETTINGS)
    ]
    organization = store.get_organization(org)
    assert organization is not None and organization.webhook_secret == WEBHOOK_SECRET
    assert store.signing_secret(org, lambda: "never made") == SIGNING_SECRET


def test_the_database_holds_no_secret_and_the_store_gives_them_back(engine: sa.Engine) -> None:
    """Raw rows hold only marked tokens, never a secret; the store reads them back as given
    (and the settings that are not secrets, such as the caps, stay readable)."""
    store = SqlStore(engine, SecretBox([NEW]))
    org = store_secrets(store)
    raw = raw_rows(engine)
    for secret in PLAINTEXTS:
        assert secret not in raw
    assert raw.count(MARK) == len(PLAINTEXTS)
    assert "caller_number_max_per_hour" in raw and "AC0001" in raw
    read_back(store, org)


def test_rotation_reencrypts_under_the_new_key(engine: sa.Engine) -> None:
    """With the new key first and the old one after it, everything reads; re-encrypting
    seals each secret with the new key once, after which the old key can go."""
    org = store_secrets(SqlStore(engine, SecretBox([OLD])))
    both = SqlStore(engine, SecretBox.from_setting(f"{NEW}, {OLD}"))
    both.check_secret_key()
    read_back(both, org)
    before = raw_rows(engine)
    assert both.reencrypt_secrets() == len(PLAINTEXTS)
    assert both.reencrypt_secrets() == 0  # nothing left under the old key
    assert raw_rows(engine) != before
    read_back(SqlStore(engine, SecretBox([NEW])), org)
    only_old = SqlStore(engine, SecretBox([OLD]))
    with pytest.raises(SecretKeyError, match=SECRET_KEY_ENV):
        only_old.check_secret_key()
    with pytest.raises(SecretKeyError, match=SECRET_KEY_ENV):
        only_old.get_connection(org, "http-1")


def test_plaintext_written_before_encryption_reads_and_is_then_sealed(engine: sa.Engine) -> None:
    """Secrets stored in plaintext before this version still read; re-encrypting (or the
    next write) seals them."""
    store = SqlStore(engine, SecretBox([NEW]))
    org = store_secrets(store)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE organizations SET webhook_secret = :s WHERE id = :o"),
            {"s": WEBHOOK_SECRET, "o": org},
        )
        connections = sa.table("connections", sa.column("org_id"), sa.column("settings", sa.JSON))
        conn.execute(
            connections.update()
            .where(connections.c.org_id == org)
            .values(settings={"url": "https://runtime.example", "secret": "plain-0008"})
        )
    assert store.get_organization(org).webhook_secret == WEBHOOK_SECRET
    assert store.get_connection(org, "http-1").settings["secret"] == "plain-0008"
    assert store.reencrypt_secrets() == 1 + len(SETTINGS)  # one per connection now
    raw = raw_rows(engine)
    assert WEBHOOK_SECRET not in raw and "plain-0008" not in raw
    assert store.get_connection(org, "retell-1").settings["secret"] == "plain-0008"


def test_a_wrong_key_refuses_to_open(tmp_path: Path) -> None:
    """A process whose key opens none of the stored secrets stops at its start, with one
    line naming the variable and no key in it."""
    url = f"sqlite:///{tmp_path / 'rc.db'}"
    first = open_runtime(Settings(database_url=url, secret_key=OLD))
    store_secrets(first.store)
    first.close()
    with pytest.raises(SecretKeyUnusable) as refused:
        open_runtime(Settings(database_url=url, secret_key=NEW))
    message = str(refused.value)
    assert SECRET_KEY_ENV in message and "\n" not in message
    assert OLD not in message and NEW not in message
    with pytest.raises(SecretKeyUnusable, match=f"{SECRET_KEY_ENV} holds a value that is not"):
        open_runtime(Settings(database_url=url, secret_key="not-a-fernet-key"))


def test_sqlite_without_a_key_makes_a_private_key_file_beside_the_database(
    tmp_path: Path,
) -> None:
    """The embedded default works on a fresh machine: a key file (mode 0600) is made beside
    the database, its path logged and the key never, and used again on the next start."""
    db = tmp_path / "data" / "rc.db"
    db.parent.mkdir()
    settings = Settings(database_url=f"sqlite:///{db}")
    with capture_logs() as logs:
        first = open_runtime(settings)
    key_file = db.with_name("rc.db.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert [e["path"] for e in logs if "secret key file" in e["event"]] == [str(key_file.resolve())]
    assert key not in repr(logs)
    org = store_secrets(first.store)
    first.close()
    again = open_runtime(settings)
    read_back(again.store, org)
    again.close()
    assert key_file.read_text().strip() == key
    for secret in PLAINTEXTS:
        assert secret.encode() not in db.read_bytes()


@pytest.mark.postgres
def test_postgres_without_a_key_refuses_to_open(
    pg_engine_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL is shared by many processes: without RINGCAST_SECRET_KEY neither the
    runtime nor a bare store opens, and the refusal is one line naming the variable."""
    monkeypatch.delenv(SECRET_KEY_ENV)
    with pytest.raises(SecretKeyUnusable) as refused:
        open_runtime(Settings(database_url=pg_engine_url, secret_key=""))
    assert SECRET_KEY_ENV in str(refused.value) and "\n" not in str(refused.value)
    engine = make_engine(pg_engine_url)
    try:
        with pytest.raises(SecretKeyError, match=SECRET_KEY_ENV):
            SqlStore(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrading_a_database_with_rows_keeps_them(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """Migrating a database that holds organizations and connections (referred to by other
    tables) to this version keeps every row and every reference, and their plaintext
    secrets still read."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_engine_url")
    )
    engine = make_engine(url)
    try:
        upgrade(engine, "0008")
        org = new_id()
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organizations (id, name, disabled, created_at, webhook_secret,"
                    " signing_secret) VALUES (:id, 'old', false, :t, :w, :s)"
                ),
                {"id": org, "t": T0, "w": WEBHOOK_SECRET, "s": SIGNING_SECRET},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO workspaces (id, org_id, name, is_default, created_at)"
                    " VALUES (:id, :org, 'default', true, :t)"
                ),
                {"id": new_id(), "org": org, "t": T0},
            )
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM workspaces")).scalar_one() == 1
            if kind == "sqlite":  # the migration switched them off, and back on
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        store = SqlStore(engine, SecretBox([NEW]))
        store.check_secret_key()  # nothing sealed yet: any key opens
        assert store.get_organization(org).webhook_secret == WEBHOOK_SECRET
        assert store.signing_secret(org, lambda: "never made") == SIGNING_SECRET
        assert store.reencrypt_secrets() == 2
    finally:
        engine.dispose()
