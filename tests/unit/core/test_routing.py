"""Routing: weighted connections, stable per contact."""

from __future__ import annotations

from collections import Counter

from ringcast.core.routing import Route, choose

ROUTES = (
    Route("exotel", ("+918000000001", "+918000000002"), 3),
    Route("plivo", ("+918000000003",), 1),
)


def test_no_routes_means_no_choice() -> None:
    """Without routes (or with none usable) nothing is chosen."""
    assert choose((), "c1") is None
    assert choose(ROUTES, "c1", lambda _route: False) is None


def test_the_same_contact_always_gets_the_same_route() -> None:
    """Choices depend on the contact id alone, so a contact keeps its connection."""
    assert {choose(ROUTES, "contact-7") for _ in range(5)} == {choose(ROUTES, "contact-7")}


def test_weights_shape_the_split() -> None:
    """A 3:1 weighting sends about three quarters of the contacts to the first connection."""
    counts = Counter(r.connection_id for i in range(4000) if (r := choose(ROUTES, f"c{i}")))
    assert 0.70 < counts["exotel"] / 4000 < 0.80


def test_an_unusable_route_sends_the_contact_to_another() -> None:
    """When the contact's own connection cannot carry the call, another usable one does."""
    usable = [r for r in ROUTES if r.connection_id == "plivo"]
    assert all(choose(ROUTES, f"c{i}", lambda r: r in usable) == usable[0] for i in range(50))
