"""Telephone connections: their settings and limits here; their shared counters are
written by the planning and call-end transactions (``planning``, ``ends``)."""

from __future__ import annotations

import sqlalchemy as sa

from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase
from ringcast.records import Connection


class ConnectionsSql(SqlBase):
    def put_connection(self, connection: Connection) -> bool:
        """Register or replace a connection; True if it is new. Its counters are kept."""
        k = t.connections
        values = mapping.connection_values(connection)
        where = sa.and_(k.c.org_id == connection.org_id, k.c.id == connection.id)
        with self._tx() as conn:
            if conn.execute(k.update().where(where).values(**values)).rowcount:
                return False
            conn.execute(
                k.insert().values(
                    org_id=connection.org_id,
                    id=connection.id,
                    in_flight=0,
                    created_at=connection.created_at,
                    **values,
                )
            )
        return True

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None:
        k = t.connections
        return self._one(
            k, sa.and_(k.c.org_id == org_id, k.c.id == connection_id), mapping.connection
        )

    def list_connections(self, org_id: str) -> list[Connection]:
        k = t.connections
        return self._all(
            sa.select(k).where(k.c.org_id == org_id).order_by(k.c.id), mapping.connection
        )

    def connections_with_id(self, connection_id: str) -> list[Connection]:
        """Every organization's connection with this id (a provider's callback URL names
        the connection, not its organization), oldest first."""
        k = t.connections
        return self._all(
            sa.select(k).where(k.c.id == connection_id).order_by(k.c.created_at, k.c.org_id),
            mapping.connection,
        )

    def remove_connection(self, org_id: str, connection_id: str) -> bool:
        k = t.connections
        with self._tx() as conn:
            gone = conn.execute(
                k.delete().where(k.c.org_id == org_id, k.c.id == connection_id)
            ).rowcount
        return bool(gone)
