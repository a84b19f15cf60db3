"""A campaign's progress as an operator follows it: its contacts by state, the waiting or
skipped ones by reason, how many are being dialled, when the next dial is due, and the
share of contacts that are final.

Read through the same figures the native API serves (``compliance.figures``), plus one
probe of the due index for the next dial: cheap enough to refresh every second on a
campaign of millions of contacts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ringcast.core.model import ContactState
from ringcast.ports import ContactQueries
from ringcast.records import Campaign
from ringcast.services.compliance import figures


@dataclass(frozen=True)
class Progress:
    campaign: Campaign
    at: datetime  #: when the figures were read
    contacts: dict[str, int]  #: by state, every state listed
    reasons: dict[str, int]  #: waiting or skipped contacts by reason, every reason listed
    next_due_at: datetime | None  #: the earliest waiting contact's; None: none waits

    @property
    def total(self) -> int:
        return sum(self.contacts.values())

    @property
    def final(self) -> int:
        return sum(n for state, n in self.contacts.items() if ContactState(state).is_final)

    @property
    def dialling(self) -> int:
        return self.contacts[ContactState.DIALING.value]

    @property
    def ended(self) -> bool:
        """The campaign is over (ended or cancelled): nothing it has will change again."""
        return self.campaign.config.status.is_terminal

    def as_json(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "campaign_id": c.id,
            "name": c.name,
            "status": c.config.status.value,
            "at": self.at.isoformat(),
            "contacts": self.contacts,
            "reasons": self.reasons,
            "dialling": self.dialling,
            "next_dial_at": self.next_due_at.isoformat() if self.next_due_at else None,
            "total": self.total,
            "final": self.final,
            "ended": self.ended,
        }


def progress(store: ContactQueries, campaign: Campaign, now: datetime) -> Progress:
    """The campaign's figures as they stand (``campaign`` as read just before)."""
    states, reasons = figures(store, campaign.id)
    return Progress(campaign, now, states, reasons, store.next_due_at(campaign.id))
