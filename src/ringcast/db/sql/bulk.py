"""PostgreSQL's way with long lists: one statement over arrays instead of one per row.

The dispatcher's batches (ends, dials) are hundreds of rows. On PostgreSQL each helper
sends one statement whose shape does not depend on the batch's length, so it is neither
compiled nor planned again for each batch; elsewhere (SQLite) it does the plain thing.
A cohort's batches (thousands of rows) are loaded with ``COPY`` (``copy_new_rows``).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ringcast.db.sql.base import is_postgres
from ringcast.db.types import UTCDateTime


def among(conn: sa.Connection, column: sa.Column[Any], values: Iterable[str]) -> Any:
    """``column IN values`` for the hot paths' long lists (hundreds of ids or numbers).

    PostgreSQL takes them as one array parameter (``= ANY(:array)``): the statement is the
    same whatever the list's length, so it is neither compiled nor planned again for
    each batch. Elsewhere, a plain IN.
    """
    wanted = list(values)
    if is_postgres(conn):
        return column == sa.any_(sa.bindparam(None, wanted, type_=ARRAY(sa.String)))
    return column.in_(wanted)


def update_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    key: str = "id",
    only_if: tuple[str, str] | None = None,
) -> None:
    """Update many rows, each matched by ``key``, to the values in its dict; with
    ``only_if`` (a text column and a value), only the rows that hold that value.

    On PostgreSQL this is one statement, ``UPDATE .. FROM unnest(arrays)``: one array per
    column, planned once, instead of one statement per row (the dispatcher's batches of
    ends and dials are hundreds of rows). Elsewhere, one statement run for each row.
    """
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    guard = [] if only_if is None else [table.c[only_if[0]] == only_if[1]]
    if not is_postgres(conn):
        conn.execute(
            table.update()
            .where(table.c[key] == sa.bindparam(f"b_{key}"), *guard)
            .values({c: sa.bindparam(f"b_{c}") for c in columns}),
            [{f"b_{c}": v for c, v in row.items()} for row in rows],
        )
        return
    unnest, arrays, values = _unnest(table, [key, *columns], rows)
    assignments = [f"{c} = {v}" for c, v in zip(columns, values[1:], strict=True)]
    conn.execute(
        sa.text(
            f"UPDATE {table.name} AS t SET {', '.join(assignments)} "  # noqa: S608
            f"FROM {unnest} WHERE t.{key} = v.{key}"
            + ("" if only_if is None else f" AND t.{table.c[only_if[0]].name} = :only_if")
        ),
        arrays if only_if is None else {**arrays, "only_if": only_if[1]},
    )


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows; on PostgreSQL as one ``INSERT .. SELECT FROM unnest(arrays)``
    (see ``update_rows``; psycopg would otherwise send one INSERT per row), elsewhere
    as SQLAlchemy's executemany."""
    if not rows:
        return
    if not is_postgres(conn):
        conn.execute(table.insert(), list(rows))
        return
    columns = list(rows[0])
    unnest, arrays, values = _unnest(table, columns, rows)
    conn.execute(
        sa.text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {unnest}"
        ),
        arrays,
    )


def insert_new_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    unique: sa.Index,
    returning: str,
) -> list[Any]:
    """Insert the rows the ``unique`` index of the table does not already hold (``INSERT
    .. ON CONFLICT (its columns) WHERE (its predicate) DO NOTHING``, which SQLite and
    PostgreSQL spell alike) and return the ``returning`` column of those inserted. Any
    other constraint broken still raises.

    A row that clashes with one committed meanwhile by another transaction is skipped as
    well: on PostgreSQL the insert waits for that transaction and then sees its row.
    """
    if not rows:
        return []
    columns_of_index = [c.name for c in unique.columns]
    predicate = unique.dialect_options["postgresql"]["where"]
    if not is_postgres(conn):
        statement = (
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=columns_of_index, index_where=predicate)
            .returning(table.c[returning])
        )
        return [r[0] for r in conn.execute(statement, list(rows)).all()]
    columns = list(rows[0])
    unnest, arrays, values = _unnest(table, columns, rows)
    where = "" if predicate is None else f" WHERE {predicate}"
    found = conn.execute(
        sa.text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {unnest} "
            f"ON CONFLICT ({', '.join(columns_of_index)}){where} DO NOTHING "
            f"RETURNING {table.c[returning].name}"
        ),
        arrays,
    )
    return [r[0] for r in found.all()]


def copy_new_rows(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    constants: Mapping[str, Any],
    unique: sa.Index,
    returning: str,
) -> set[Any]:
    """``insert_new_rows`` for a large batch, on PostgreSQL only: the rows (tuples of
    ``columns``' values, JSON as text) go by ``COPY`` into a temporary table, then one
    ``INSERT .. SELECT .. ORDER BY`` (in the rows' order, so that of two rows with the
    same key the first is kept) ``ON CONFLICT .. DO NOTHING`` moves them into ``table``
    with the ``constants`` every row shares. Returns the ``returning`` column (a unique
    one, among ``columns``) of those inserted: when none clashed, all of them, and
    otherwise those the table now holds (read back only then: a million ids returned
    cost the caller more than the insert).

    ``COPY`` is PostgreSQL's bulk load: the rows stream in one protocol message after
    another, with no statement, parameter or plan per row, and the temporary table (no
    index, no WAL) takes them at the speed of the wire; the insert then checks the
    unique index once per row, as a plain insert would. Rows whose keys differ among
    themselves are first tried straight into ``table`` (``_copy_straight_in``).
    """
    rows = list(rows)
    straight = _copy_straight_in(conn, table, columns, rows, constants, unique, returning)
    if straight is not None:
        return straight
    staged, values = [], []
    for c in columns:
        element, _, stored_as = _pg_array(table.c[c].type)
        staged.append(f"{table.c[c].name} {element}")
        values.append(f"v.{table.c[c].name}{stored_as}")
    params: dict[str, Any] = {}
    for c, value in constants.items():
        element, convert, stored_as = _pg_array(table.c[c].type)
        params[f"k_{c}"] = convert(value)
        values.append(f"CAST(:k_{c} AS {element}){stored_as}")
    names = [table.c[c].name for c in [*columns, *constants]]
    stage = f"copy_{table.name}_{zlib.crc32(' '.join(staged).encode()):08x}"
    at, keys = list(columns).index(returning), set[Any]()
    raw: Any = conn.connection.driver_connection  # psycopg's, in this transaction
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
            f"(ord int8, {', '.join(staged)}) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(
            f"COPY {stage} (ord, {', '.join(table.c[c].name for c in columns)}) FROM STDIN"
        ) as copy:
            for n, row in enumerate(rows):
                copy.write_row((n, *row))
                keys.add(row[at])
    predicate = unique.dialect_options["postgresql"]["where"]
    where = "" if predicate is None else f" WHERE {predicate}"
    inserted = conn.execute(
        sa.text(
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join(values)} FROM {stage} AS v ORDER BY v.ord "
            f"ON CONFLICT ({', '.join(c.name for c in unique.columns)}){where} DO NOTHING"
        ),
        params,
    ).rowcount
    key = table.c[returning].name
    if inserted == len(keys):  # the usual case: no row clashed, nothing to read back
        return keys
    found = conn.execute(
        sa.text(
            f"SELECT v.{key} FROM {stage} AS v "  # noqa: S608
            f"WHERE EXISTS (SELECT FROM {table.name} AS t WHERE t.{key} = v.{key})"
        )
    )
    return {r[0] for r in found}


def _copy_straight_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: Mapping[str, Any],
    unique: sa.Index,
    returning: str,
) -> set[Any] | None:
    """``COPY`` the rows straight into ``table`` when none can clash with another of
    them on ``unique``, under a savepoint: the ids of all of them, or None (nothing
    written) if one clashed with a row the table holds, or a row of its columns is
    missing from ``columns`` and ``constants``.

    Straight in, the table takes the rows as a bulk load (heap pages filled many rows
    at a time), with no staging table, no sort and no speculative insertion per row:
    most of what ``ON CONFLICT`` costs. A clash aborts the copy at its row, so a batch
    of numbers the campaign already has costs little more than its staged insert.
    """
    names = [*columns, *constants]
    if any(c.name not in names for c in unique.columns):
        return None
    keys = [names.index(c.name) for c in unique.columns]
    shared = [_pg_array(table.c[c].type)[1](v) for c, v in constants.items()]
    full = [(*row, *shared) for row in rows]
    if len({tuple(r[k] for k in keys) for r in full}) < len(full):
        return None  # which of two rows with one key is kept: the staged insert decides
    raw: Any = conn.connection.driver_connection  # psycopg's, in this transaction
    with raw.cursor() as cursor:
        cursor.execute("SAVEPOINT copy_straight_in")
        try:
            with cursor.copy(
                f"COPY {table.name} ({', '.join(table.c[c].name for c in names)}) FROM STDIN"
            ) as copy:
                for row in full:
                    copy.write_row(row)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != "23505":  # unique_violation
                raise
            cursor.execute("ROLLBACK TO SAVEPOINT copy_straight_in")
            cursor.execute("RELEASE SAVEPOINT copy_straight_in")
            return None
        cursor.execute("RELEASE SAVEPOINT copy_straight_in")
    at = list(columns).index(returning)
    return {row[at] for row in rows}


def upsert_rows(
    conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> None:
    """Insert these rows, or update the row already under the same ``key`` columns (the
    table's primary key or a unique index) to their values: ``INSERT .. ON CONFLICT DO
    UPDATE``, which SQLite and PostgreSQL spell alike."""
    if not rows:
        return
    insert = pg_insert if is_postgres(conn) else sqlite_insert
    statement = insert(table)
    changed = [c for c in rows[0] if c not in key]
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(key), set_={c: statement.excluded[c] for c in changed}
        ),
        list(rows),
    )


def _unnest(
    table: sa.Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> tuple[str, dict[str, list[Any]], list[str]]:
    """For PostgreSQL: ``unnest(...) AS v(columns)`` over one bound array per column,
    those arrays, and each column's value as stored (``v.col``, cast where needed).

    Every name in the SQL is one of ``table``'s own columns (``table.c[c]`` refuses any
    other); every value travels as a bound array.
    """
    arrays: dict[str, list[Any]] = {}
    sources, values = [], []
    for c in columns:
        element, convert, stored_as = _pg_array(table.c[c].type)
        arrays[f"p_{c}"] = [convert(row[c]) for row in rows]
        sources.append(f"CAST(:p_{c} AS {element}[])")
        values.append(f"v.{c}{stored_as}")
    return f"unnest({', '.join(sources)}) AS v({', '.join(columns)})", arrays, values


def _pg_array(kind: Any) -> tuple[str, Callable[[Any], Any], str]:
    """For a column type: the PostgreSQL array element to send its values in, how to
    convert one value for it, and the cast that stores an element in the column."""
    if isinstance(kind, UTCDateTime):
        return "timestamptz", lambda v: None if v is None else v.astimezone(UTC), ""
    if isinstance(kind, sa.Float):
        return "float8", lambda v: v, ""
    if isinstance(kind, sa.Integer):
        return "int8", lambda v: v, ""
    if isinstance(kind, sa.Boolean):
        return "bool", lambda v: v, ""
    if isinstance(kind, sa.JSON):  # JSONB on PostgreSQL, sent as text
        return "text", lambda v: None if v is None else json.dumps(v), "::jsonb"
    return "text", lambda v: v, ""
