"""The in-memory store's registry of telephone connections (see ``SqlStore``'s), apart so
that ``db.memory`` stays one job: campaigns, contacts and their attempts."""

from __future__ import annotations

from ringcast.core.callers import CallerUsage
from ringcast.core.pacing import PacingCounters
from ringcast.records import Connection


class MemoryConnections:
    """Mixed into ``MemoryStore``, which makes these three tables in its ``__init__``."""

    connections: dict[tuple[str, str], Connection]
    line_counters: dict[tuple[str, str], PacingCounters]
    caller_usage: dict[tuple[str, str], dict[str, CallerUsage]]

    def put_connection(self, connection: Connection) -> bool:
        key = (connection.org_id, connection.id)
        new = key not in self.connections
        self.connections[key] = connection
        self.line_counters.setdefault(key, PacingCounters())
        return new

    def get_connection(self, org_id: str, connection_id: str) -> Connection | None:
        return self.connections.get((org_id, connection_id))

    def list_connections(self, org_id: str) -> list[Connection]:
        return [c for (o, _), c in sorted(self.connections.items()) if o == org_id]

    def connections_with_id(self, connection_id: str) -> list[Connection]:
        found = [c for (_, i), c in self.connections.items() if i == connection_id]
        return sorted(found, key=lambda c: (c.created_at, c.org_id))

    def remove_connection(self, org_id: str, connection_id: str) -> bool:
        self.line_counters.pop((org_id, connection_id), None)
        self.caller_usage.pop((org_id, connection_id), None)
        return self.connections.pop((org_id, connection_id), None) is not None
