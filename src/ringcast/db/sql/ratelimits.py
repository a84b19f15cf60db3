"""Request counts per fixed window, shared by every process on one database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, is_postgres


class RateLimitsSql(SqlBase):
    def count_request(self, bucket: str, window_no: int) -> int:
        """Count one request of ``bucket`` in window ``window_no``; how many it has made
        in that window, this one included. One upsert: concurrent requests from any
        number of processes each get their own count (the row lock orders them)."""
        table = t.rate_limit_windows
        with self._tx() as conn:
            if is_postgres(conn):
                # Every request counts here, so a durable commit would make every request
                # wait for a WAL flush (2-4 ms on this machine's disk, bench/api_load). A
                # counter lost in a database crash only lets a few requests more through:
                # the transaction stays atomic, only its flush is deferred (at most
                # 3 x wal_writer_delay, 600 ms by default).
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            insert = (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)
            first = insert.values(bucket=bucket, window_no=window_no, hits=1)
            same_window = table.c.window_no == first.excluded.window_no
            counted = first.on_conflict_do_update(
                index_elements=[table.c.bucket],
                set_={
                    "hits": sa.case((same_window, table.c.hits + 1), else_=1),
                    "window_no": first.excluded.window_no,
                },
            ).returning(table.c.hits)
            return int(conn.execute(counted).scalar_one())
