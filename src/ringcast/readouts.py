"""What the dashboard reads from the store beyond the API's listings: small values the
SQL store (``db/sql/dashboard.py``) fills and ``services.dashboard`` shapes into pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ContactTally:
    """One campaign's contacts counted: by state, how many wait on a hold (a reason),
    and when the earliest waiting one is due."""

    by_state: dict[str, int] = field(default_factory=dict)
    held_back: int = 0
    next_due_at: datetime | None = None


@dataclass(frozen=True)
class ContactSearch:
    """One page of a campaign's contacts, in number order, after ``after`` (keyset)."""

    campaign_id: str
    state: str | None = None
    reason: str | None = None
    #: the start of the number, E.164 digits with or without the ``+``
    number: str | None = None
    after: str | None = None  #: the last number of the page before
    limit: int = 50


@dataclass(frozen=True)
class AttemptMark:
    """When an attempt was dialled and how it ended (``in_progress`` while it runs)."""

    dialed_at: datetime
    outcome: str
