"""Telephone connections: their settings (credentials sealed, see ``mapping``) and limits
here; their shared counters are written by the planning and call-end transactions
(``planning``, ``ends``), their caller numbers' usage by planning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ringcast.db import mapping
from ringcast.db import tables as t
from ringcast.db.sql.base import SqlBase, for_update
from ringcast.records import Connection, ConnectionLoad


class ConnectionsSql(SqlBase):
    def put_connection(self, connection: Connection) -> bool:
        """Register or replace a connection; True if it is new. Its counters are kept."""
        k = t.connections
        values = mapping.connection_values(connection, self.secrets)
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
            k, sa.and_(k.c.org_id == org_id, k.c.id == connection_id), self._connection
        )

    def list_connections(self, org_id: str) -> list[Connection]:
        k = t.connections
        return self._all(
            sa.select(k).where(k.c.org_id == org_id).order_by(k.c.id), self._connection
        )

    def connections_with_id(self, connection_id: str) -> list[Connection]:
        """Every organization's connection with this id (a provider's callback URL names
        the connection, not its organization), oldest first."""
        k = t.connections
        return self._all(
            sa.select(k).where(k.c.id == connection_id).order_by(k.c.created_at, k.c.org_id),
            self._connection,
        )

    def remove_connection(self, org_id: str, connection_id: str) -> bool:
        """Forget a connection, with its counters and its caller numbers' usage.

        The connection's row is locked before its usage rows are touched: the order in
        which a planning step takes them, so that the two never wait for each other.
        """
        k, u = t.connections, t.caller_number_usage
        mine = sa.and_(k.c.org_id == org_id, k.c.id == connection_id)
        with self._tx() as conn:
            if conn.execute(for_update(conn, sa.select(k.c.id).where(mine))).first() is None:
                return False
            conn.execute(u.delete().where(u.c.org_id == org_id, u.c.connection_id == connection_id))
            conn.execute(k.delete().where(mine))
        return True

    def connection_loads(self, org_id: str, since: datetime) -> list[ConnectionLoad]:
        """Each of the organization's connections: its calls in progress, and the calls
        dialled through it since ``since`` (found through the organization's campaigns,
        by the attempts' (campaign, dialled at) index)."""
        k, a, c = t.connections, t.attempts, t.campaigns
        with self.engine.connect() as conn:
            flights = conn.execute(
                sa.select(k.c.id, k.c.in_flight).where(k.c.org_id == org_id).order_by(k.c.id)
            ).all()
            rows = conn.execute(
                sa.select(a.c.connection_id, sa.func.count().label("n"))
                .where(
                    a.c.campaign_id.in_(sa.select(c.c.id).where(c.c.org_id == org_id)),
                    a.c.dialed_at >= since,
                    a.c.connection_id.is_not(None),
                )
                .group_by(a.c.connection_id)
            ).all()
        dialled: dict[str, int] = {r.connection_id: int(r.n) for r in rows}
        return [ConnectionLoad(r.id, r.in_flight, int(dialled.get(r.id, 0))) for r in flights]

    def _connection(self, row: sa.Row[Any]) -> Connection:
        return mapping.connection(row, self.secrets)
