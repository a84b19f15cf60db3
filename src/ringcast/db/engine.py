"""Engines for the two backends: SQLite (embedded, one file, WAL) and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

#: seconds to wait for PostgreSQL to accept a connection (``?connect_timeout=`` in the URL wins)
CONNECT_TIMEOUT_S = 5


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url`` with the settings each backend needs."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; let
        # SQLAlchemy emit BEGIN itself (the recipe from SQLAlchemy's SQLite docs).
        sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    # libpq waits for a server that does not answer as long as the network lets it: a
    # command or a process starting against an unreachable database should fail quickly
    if "connect_timeout" not in sa.engine.make_url(url).query:
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S} | kwargs.get(
            "connect_args", {}
        )
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return sa.create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # see the "begin" listener above
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
