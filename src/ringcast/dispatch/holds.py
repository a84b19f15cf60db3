"""Backoff for one thing at a time: an attempt the reconciler could not end, a campaign
whose planning raised.

Such a failure is about that one thing (its stored settings, its reported end), not the
database: trying it again on every pass would spin on the same error several times a
second and crowd out the work that can be done. So each failing key waits its own
doubling backoff, up to a ceiling, while everything else goes on; success forgets it.
Times come from the dispatcher's clock, so tests drive the backoff on virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class _Hold:
    failures: int
    until: datetime


class Holds:
    """The keys whose last try failed, each held until its backoff has passed."""

    def __init__(self, first: timedelta, most: timedelta) -> None:
        self.first = first
        self.most = most
        self._holds: dict[str, _Hold] = {}

    def __len__(self) -> int:
        return len(self._holds)

    def held(self, key: str, now: datetime) -> bool:
        """Whether ``key`` is still waiting out its backoff at ``now``."""
        hold = self._holds.get(key)
        return hold is not None and now < hold.until

    def failed(self, key: str, now: datetime) -> timedelta:
        """Note one more failure of ``key`` at ``now``; returns how long it is held."""
        hold = self._holds.get(key)
        failures = 1 if hold is None else hold.failures + 1
        wait = min(self.first * (1 << min(failures - 1, 32)), self.most)
        self._holds[key] = _Hold(failures, now + wait)
        return wait

    def failures(self, key: str) -> int:
        """How many times in a row ``key`` has failed."""
        hold = self._holds.get(key)
        return 0 if hold is None else hold.failures

    def succeeded(self, key: str) -> None:
        self._holds.pop(key, None)

    def forget_all_but(self, keys: set[str]) -> None:
        """Forget the keys not in ``keys``: what they were about is over (an attempt
        another worker ended), so they are no longer held."""
        for key in [k for k in self._holds if k not in keys]:
            del self._holds[key]
