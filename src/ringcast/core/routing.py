"""Which telephone connection an attempt goes out on.

Connections are chosen by weight, from a stable hash of the contact id, so that a contact
keeps its connection (and so its caller number, ``core.callers``) from one attempt to the
next while the connection can carry it, and the forecast and the dispatcher agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ringcast.core.jitter import stable_uniform


@dataclass(frozen=True)
class Route:
    connection_id: str
    caller_numbers: tuple[str, ...]
    weight: int = 1


def choose(
    routes: Sequence[Route],
    contact_id: str,
    usable: Callable[[Route], bool] | None = None,
) -> Route | None:
    """The route for this contact's attempt, by weight among the ``usable`` ones (those
    whose connection can carry the call now); None when no route is usable or none exist.
    """
    candidates = [r for r in routes if usable(r)] if usable is not None else list(routes)
    total = sum(r.weight for r in candidates)
    if total <= 0:
        return None
    pick = stable_uniform(0, contact_id, "route") * total
    for route in candidates:
        if pick < route.weight:
            return route
        pick -= route.weight
    return candidates[-1]
