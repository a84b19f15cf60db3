"""Routing: weighted connections, rotating caller numbers, stable per attempt."""

from __future__ import annotations

from collections import Counter

from ringcast.core.routing import Route, choose

ROUTES = (
    Route("exotel", ("+918000000001", "+918000000002"), 3),
    Route("plivo", ("+918000000003",), 1),
)


def test_no_routes_means_the_default_gateway() -> None:
    """Without routes nothing is chosen."""
    assert choose((), "a1", 0) == (None, None)


def test_the_same_attempt_always_gets_the_same_route() -> None:
    """Choices depend on the attempt id alone, so the forecast and the worker agree."""
    assert {choose(ROUTES, "attempt-7", 0) for _ in range(5)} == {choose(ROUTES, "attempt-7", 0)}


def test_weights_shape_the_split() -> None:
    """A 3:1 weighting sends about three quarters of the attempts to the first connection."""
    counts = Counter(choose(ROUTES, f"a{i}", 0)[0] for i in range(4000))
    assert 0.70 < counts["exotel"] / 4000 < 0.80


def test_callers_rotate_with_the_attempt_number() -> None:
    """A contact called again is shown the connection's next number."""
    only = (Route("exotel", ("+918000000001", "+918000000002")),)
    assert [choose(only, "a", n)[1] for n in range(3)] == [
        "+918000000001",
        "+918000000002",
        "+918000000001",
    ]
