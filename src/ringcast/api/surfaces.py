"""Which surface a request came through, by its path: the one rule the error shapes
(``api.errors``) and the rate limits (``api.ratelimit``) both follow."""

from __future__ import annotations

VOLUBILE_PREFIX = "/v1"
SARVAM_PREFIX = "/api/scheduling"


def surface_of(path: str) -> str:
    """``volubile``, ``sarvam`` or ``native`` (everything else)."""
    if path == VOLUBILE_PREFIX or path.startswith(VOLUBILE_PREFIX + "/"):
        return "volubile"
    if path.startswith(SARVAM_PREFIX):
        return "sarvam"
    return "native"
