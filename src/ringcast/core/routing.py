"""Which telephone connection and caller number an attempt goes out on.

Connections are chosen by weight; within a connection the caller numbers rotate with the
attempt number, so a contact called again is shown the next number. Both choices come
from a stable hash of the attempt id, so the forecast and the dispatcher agree.
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
    attempt_id: str,
    attempt_number: int,
    usable: Callable[[Route], bool] | None = None,
) -> tuple[str | None, str | None] | None:
    """(connection id, caller number) for this attempt; (None, None) with no routes.

    ``usable`` narrows the choice to the routes whose connection can carry the call now;
    None when routes exist but none of them can.
    """
    if not routes:
        return None, None
    candidates = [r for r in routes if usable(r)] if usable is not None else list(routes)
    total = sum(r.weight for r in candidates)
    if total <= 0:
        return None if usable is not None else (None, None)
    pick = stable_uniform(0, attempt_id, "route") * total
    for route in candidates:
        if pick < route.weight:
            break
        pick -= route.weight
    caller = (
        route.caller_numbers[attempt_number % len(route.caller_numbers)]
        if route.caller_numbers
        else None
    )
    return route.connection_id, caller
