"""Migrations: the same schema on SQLite and PostgreSQL, matching the table definitions."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ringcast.db.migrate import head_revision, is_current
from ringcast.db.tables import metadata


def describe(engine: sa.Engine) -> dict[str, Any]:
    """A backend-neutral description: columns (generic type, nullability), keys, indexes."""
    insp = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": {
                c["name"]: (_generic(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            },
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in insp.get_foreign_keys(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
            # PostgreSQL also lists the index behind each unique constraint; those are
            # compared as constraints above.
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
                if "duplicates_constraint" not in i
            ),
        }
    return out


def _generic(t: sa.types.TypeEngine[Any]) -> str:
    """Fold backend spellings onto one name (TIMESTAMP/DATETIME, JSONB/JSON, VARCHAR(n)...)."""
    name = type(t).__name__.upper()
    for generic, spellings in {
        "DATETIME": ("DATETIME", "TIMESTAMP"),
        "JSON": ("JSON", "JSONB"),
        "FLOAT": ("FLOAT", "DOUBLE", "REAL", "DOUBLE_PRECISION"),
        "INTEGER": ("INTEGER",),
        "BOOLEAN": ("BOOLEAN",),
        "TEXT": ("TEXT",),
        "DATE": ("DATE",),
        "BINARY": ("BLOB", "BYTEA", "LARGEBINARY"),
    }.items():
        if name in spellings:
            return generic
    length = getattr(t, "length", None)
    return f"VARCHAR({length})" if length else name


def test_migrations_match_the_table_definitions(engine: sa.Engine) -> None:
    """After upgrade, autogenerate finds nothing to change, on each backend."""
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert is_current(engine)
    assert head_revision() is not None


@pytest.mark.postgres
def test_sqlite_and_postgres_schemas_are_the_same(
    sqlite_engine: sa.Engine, pg_engine: sa.Engine
) -> None:
    """Tables, columns, types, nullability, keys and indexes agree between the backends."""
    lite, pg = describe(sqlite_engine), describe(pg_engine)
    assert lite.keys() == pg.keys()
    for table in lite:
        assert lite[table] == pg[table], table


def _plan_text(engine: sa.Engine, sql: str, params: dict[str, Any]) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql), params).all()
            return " ".join(str(r[-1]) for r in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")  # tiny tables: ask what it *can* use
        rows = conn.execute(sa.text("EXPLAIN " + sql), params).all()
        return " ".join(r[0] for r in rows)


def test_due_query_uses_the_partial_due_index(engine: sa.Engine) -> None:
    """'Which contacts of this campaign are due now' is answered from ix_contacts_due."""
    sql = (
        "SELECT id FROM contacts WHERE campaign_id = :c AND state = 'waiting' "
        "AND next_due_at <= :now ORDER BY next_due_at, id LIMIT 100"
    )
    plan = _plan_text(engine, sql, {"c": "x", "now": "2026-01-01 00:00:00"})
    assert "ix_contacts_due" in plan
    assert "SORT" not in plan.upper() or "Incremental" in plan  # no full sort of the table
