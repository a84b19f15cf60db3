"""What every part of the SQL store shares: the engine, one transaction, reading rows."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ringcast.core.errors import Conflict
from ringcast.crypto import SECRET_KEY_ENV, SecretBox, box_for_database

_T = TypeVar("_T")


def is_postgres(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def for_update(
    conn: sa.Connection, query: sa.Select[Any], *, skip_locked: bool = False
) -> sa.Select[Any]:
    """``query`` locking the rows it reads until the transaction ends, on PostgreSQL.

    SQLite has no row locks and needs none: a transaction there takes the database's
    write lock when it begins (``BEGIN IMMEDIATE``, see ``db.engine``).
    """
    return query.with_for_update(skip_locked=skip_locked) if is_postgres(conn) else query


def greatest(conn: sa.Connection) -> Any:
    """The SQL function for the larger of two values: ``max`` on SQLite."""
    return sa.func.greatest if is_postgres(conn) else sa.func.max


class SqlBase:
    """The engine, the box that seals stored secrets, and the helpers every part of
    ``SqlStore`` builds on."""

    def __init__(self, engine: sa.Engine, secrets: SecretBox | None = None) -> None:
        """``secrets`` comes from the runtime (``RINGCAST_SECRET_KEY`` in its settings); a
        store built without one (tests, tools) reads that variable itself, under the same
        rules (``crypto.box_for_database``): on PostgreSQL it must be set."""
        self.engine = engine
        self.secrets = secrets or box_for_database(
            os.environ.get(SECRET_KEY_ENV), engine.url.get_backend_name(), engine.url.database
        )

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        """One transaction; a broken constraint leaves it as ``Conflict``."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise Conflict(str(exc.orig)) from exc

    def _one(self, table: sa.Table, where: Any, make: Callable[[sa.Row[Any]], _T]) -> _T | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(where)).first()
        return None if row is None else make(row)

    def _all(self, query: sa.Select[Any], make: Callable[[sa.Row[Any]], _T]) -> list[_T]:
        with self.engine.connect() as conn:
            return [make(r) for r in conn.execute(query).all()]

    def _page(
        self,
        query: sa.Select[Any],
        where: Sequence[Any],
        order: Sequence[Any],
        offset: int,
        limit: int,
        make: Callable[[sa.Row[Any]], _T],
    ) -> tuple[list[_T], int]:
        """One page of rows in ``order``, and how many match in all."""
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one()
            rows = conn.execute(
                query.where(*where).order_by(*order).offset(offset).limit(limit)
            ).all()
        return [make(r) for r in rows], total
