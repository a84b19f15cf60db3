"""What the dashboard shows, read through the same store the APIs use: campaign rows with
their progress, one campaign's figures, pages of its contacts and calls, and the series
its charts draw. Nothing here writes; actions go through ``services.campaigns``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ringcast.core.errors import InvalidTransition
from ringcast.core.model import Contact, ContactState
from ringcast.core.outcomes import Outcome
from ringcast.core.states import CampaignAction, CampaignStatus, apply_action
from ringcast.ports import CampaignQueries, ContactQueries, DashboardQueries
from ringcast.readouts import AttemptMark, ContactSearch, ContactTally
from ringcast.records import Campaign, CampaignQuery
from ringcast.services import compliance

#: how the charts group outcomes, in the order they draw them
OUTCOME_GROUPS = ("answered", "no_answer", "busy", "voicemail", "failed")
#: the most points a completion curve sends to the browser
MAX_CURVE_POINTS = 400


class DashboardStore(CampaignQueries, ContactQueries, DashboardQueries, Protocol):
    """The store as the dashboard reads it."""


@dataclass(frozen=True)
class CampaignRow:
    """A campaign with its contacts counted: one row of the campaigns list."""

    campaign: Campaign
    tally: ContactTally

    def count(self, state: ContactState) -> int:
        return self.tally.by_state.get(state.value, 0)

    @property
    def total(self) -> int:
        return sum(self.tally.by_state.values())

    @property
    def final(self) -> int:
        return sum(n for s, n in self.tally.by_state.items() if ContactState(s).is_final)

    @property
    def percent(self) -> int:
        """Final contacts as a whole percentage of all (100 for an empty campaign that ended)."""
        if not self.total:
            return 100 if self.campaign.config.status.is_terminal else 0
        return self.final * 100 // self.total

    @property
    def reached(self) -> int:
        return self.count(ContactState.REACHED)

    @property
    def exhausted(self) -> int:
        return self.count(ContactState.EXHAUSTED)

    @property
    def waiting(self) -> int:
        return self.count(ContactState.WAITING)

    @property
    def dialling(self) -> int:
        return self.count(ContactState.DIALING)

    @property
    def held_back(self) -> int:
        return self.tally.held_back

    @property
    def next_dial_at(self) -> datetime | None:
        if not self.campaign.config.status.dials:
            return None
        return self.tally.next_due_at

    @property
    def ends_at(self) -> datetime | None:
        return self.campaign.config.schedule.ends_at

    @property
    def zone(self) -> str:
        return self.campaign.config.schedule.weekly.zone

    @property
    def actions(self) -> list[str]:
        """The actions the campaign's status allows (the transition table decides)."""
        return allowed_actions(self.campaign.config.status)


def allowed_actions(status: CampaignStatus) -> list[str]:
    allowed = []
    for action in CampaignAction:
        try:
            apply_action(status, action)
        except InvalidTransition:
            continue
        allowed.append(action.value)
    return allowed


def campaign_rows(
    store: DashboardStore, workspace_id: str, status: str | None, offset: int, limit: int
) -> tuple[list[CampaignRow], int]:
    """A page of the workspace's campaigns (every dialect), newest first, with tallies."""
    found, total = store.list_campaigns(CampaignQuery(workspace_id, status=status), offset, limit)
    tallies = store.contact_tallies([c.id for c in found])
    return [CampaignRow(c, tallies.get(c.id, ContactTally())) for c in found], total


@dataclass(frozen=True)
class Overview:
    """One campaign's row, and its contacts by state and by hold-back or skip reason
    (the native API's figures)."""

    row: CampaignRow
    states: dict[str, int]
    reasons: dict[str, int]


def overview(store: DashboardStore, campaign: Campaign) -> Overview:
    """The campaign page's figures from one count by (state, reason) and the earliest due
    time (read from the due-contacts index)."""
    counts = store.contact_figures(campaign.id)
    states, reasons = compliance.figures_of(counts)
    held = sum(
        n for (state, reason), n in counts.items() if state is ContactState.WAITING and reason
    )
    tally = ContactTally(
        {s: n for s, n in states.items() if n}, held, store.next_due_at(campaign.id)
    )
    return Overview(CampaignRow(campaign, tally), states, reasons)


def contacts_page(store: DashboardStore, search: ContactSearch) -> tuple[list[Contact], str | None]:
    """One page of contacts, and the key of the next page (None on the last)."""
    page = store.search_contacts(
        ContactSearch(
            search.campaign_id,
            search.state,
            search.reason,
            search.number,
            search.after,
            search.limit + 1,
        )
    )
    if len(page) > search.limit:
        return page[: search.limit], page[search.limit - 1].phone
    return page, None


def outcome_group(outcome: str) -> str | None:
    """Which chart series an outcome belongs to (None: the call has not ended)."""
    value = Outcome(outcome)
    if value is Outcome.IN_PROGRESS:
        return None
    if value.connected:
        return "answered"
    if value in (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL):
        return value.value
    if value is Outcome.REJECTED:
        return "no_answer"
    return "failed"


def _hour(at: datetime, zone: ZoneInfo) -> int:
    """The start of ``at``'s hour in ``zone``, as Unix seconds (half-hour zones too)."""
    return int(at.astimezone(zone).replace(minute=0, second=0, microsecond=0).timestamp())


def hourly(marks: Iterable[AttemptMark], zone: ZoneInfo) -> dict[str, Any]:
    """Attempts per hour of the zone, by outcome group: ``{"x": [...], group: [...]}``."""
    counts: dict[int, Counter[str]] = {}
    for mark in marks:
        bucket = counts.setdefault(_hour(mark.dialed_at, zone), Counter())
        bucket[outcome_group(mark.outcome) or "in_progress"] += 1
    hours = sorted(counts)
    series: dict[str, Any] = {"x": hours}
    for group in (*OUTCOME_GROUPS, "in_progress"):
        series[group] = [counts[h][group] for h in hours]
    series["attempts"] = [sum(counts[h].values()) for h in hours]
    return series


def curve(moments: Sequence[datetime], start: int = 0) -> list[list[float]]:
    """A cumulative count over sorted ``moments`` as ``[unix seconds, count]`` points,
    thinned to at most ``MAX_CURVE_POINTS`` (the last point always kept)."""
    step = max(1, len(moments) // MAX_CURVE_POINTS)
    points = [
        [moments[i].timestamp(), float(start + i + 1)]
        for i in range(len(moments))
        if (i + 1) % step == 0 or i == len(moments) - 1
    ]
    return points
