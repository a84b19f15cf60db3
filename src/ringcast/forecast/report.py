"""What a forecast shows: the trace (one row per attempt), the summary, and the invariants
every forecast must keep. Pure functions over the attempts and contacts a run left."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from ringcast.core import compliance
from ringcast.core.model import Attempt, CampaignConfig, Contact, ContactState

#: Floating-point slack when comparing instants computed by different sums.
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class TraceRow:
    contact: str  #: E.164
    attempt: int  #: 0 for the first
    due_at: datetime
    dialed_at: datetime
    outcome: str
    duration_s: float  #: talk time; 0 for a call nobody answered
    connection: str | None
    caller: str | None

    def as_json(self, zone: ZoneInfo) -> dict[str, Any]:
        return {
            "contact": self.contact,
            "attempt": self.attempt,
            "due_at": self.due_at.astimezone(zone).isoformat(),
            "dialed_at": self.dialed_at.astimezone(zone).isoformat(),
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            "connection": self.connection,
            "caller": self.caller,
        }


def trace(contacts: Iterable[Contact], attempts: Iterable[Attempt]) -> list[TraceRow]:
    """One row per dialled attempt, in dialling order (ties by number, then attempt)."""
    phone = {k.id: k.phone for k in contacts}
    rows = [
        TraceRow(
            contact=phone[a.contact_id],
            attempt=a.number,
            due_at=a.due_at,
            dialed_at=a.dialed_at,
            outcome=a.outcome.value,
            duration_s=round(a.duration.total_seconds(), 3) if a.duration else 0.0,
            connection=a.connection_id,
            caller=a.caller_number,
        )
        for a in attempts
        if a.dialed_at is not None
    ]
    rows.sort(key=lambda r: (r.dialed_at, r.contact, r.attempt))
    return rows


def summary(
    config: CampaignConfig,
    contacts: Sequence[Contact],
    attempts: Sequence[Attempt],
    *,
    start: datetime,
    stopped_at: datetime,
    deferred: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The figures people ask for before launching: per-day load, reach, and the end."""
    zone = ZoneInfo(config.pacing.day_zone or config.schedule.weekly.zone)
    states = Counter(k.state for k in contacts)
    per_day = Counter(
        a.dialed_at.astimezone(zone).date().isoformat() for a in attempts if a.dialed_at
    )
    last_by_contact: dict[str, datetime] = {}
    for a in attempts:
        if a.ended_at is not None:
            last_by_contact[a.contact_id] = max(
                a.ended_at, last_by_contact.get(a.contact_id, a.ended_at)
            )
    final_moments = [
        last_by_contact[k.id] for k in contacts if k.state.is_final and k.id in last_by_contact
    ]
    return {
        "zone": zone.key,
        "start": start.astimezone(zone).isoformat(),
        "stopped_at": stopped_at.astimezone(zone).isoformat(),
        "contacts": len(contacts),
        "reached": states[ContactState.REACHED],
        "exhausted": states[ContactState.EXHAUSTED],
        "waiting": states[ContactState.WAITING] + states[ContactState.DIALING],
        "skipped": states[ContactState.SKIPPED],
        "cancelled": states[ContactState.CANCELLED],
        "attempts": sum(per_day.values()),
        "outcomes": dict(sorted(Counter(a.outcome.value for a in attempts).items())),
        "attempts_per_day": dict(sorted(per_day.items())),
        "last_final_at": max(final_moments).astimezone(zone).isoformat() if final_moments else None,
        "all_final": all(k.state.is_final for k in contacts),
        "deferred": dict(sorted((deferred or {}).items())),
    }


def violations(
    config: CampaignConfig, contacts: Sequence[Contact], attempts: Sequence[Attempt]
) -> list[str]:
    """Every way the attempts break the campaign's rules; empty when they keep them all.

    Checked: dialled inside the campaign's (and the contact's) window and never before
    due; no local day over the daily cap; no two dials closer than the attempt rate; no
    more calls at once than the concurrency cap; retries no sooner than their delay; no
    contact over its retry budget.
    """
    found: list[str] = []
    window = config.schedule.window
    pacing = config.pacing
    by_contact = {k.id: k for k in contacts}
    dialled = sorted((a for a in attempts if a.dialed_at is not None), key=_dialed)
    for a in dialled:
        at = _dialed(a)
        contact = by_contact[a.contact_id]
        if not window.is_open(at):
            found.append(f"{a.id}: dialled at {at.isoformat()}, outside the campaign's window")
        if contact.window is not None and not contact.window.is_open(at):
            found.append(f"{a.id}: dialled at {at.isoformat()}, outside the contact's window")
        if at + _EPSILON < a.due_at:
            found.append(f"{a.id}: dialled at {at.isoformat()}, before due {a.due_at}")
    if pacing.calls_per_day is not None:
        zone = ZoneInfo(pacing.day_zone or config.schedule.weekly.zone)
        for day, n in Counter(_dialed(a).astimezone(zone).date() for a in dialled).items():
            if n > pacing.calls_per_day:
                found.append(f"{day}: {n} attempts, over the daily cap {pacing.calls_per_day}")
    spacing = pacing.spacing
    for earlier, later in pairwise(dialled):
        if spacing is not None and _dialed(later) - _dialed(earlier) + _EPSILON < spacing:
            found.append(
                f"{later.id}: dialled {_dialed(later) - _dialed(earlier)} after {earlier.id}, "
                f"closer than {spacing}"
            )
    if pacing.max_concurrent is not None:
        found.extend(_concurrency(dialled, pacing.max_concurrent))
    found.extend(_policy(config, by_contact, dialled))
    found.extend(_retries(config, dialled))
    return found


def _policy(
    config: CampaignConfig, by_contact: Mapping[str, Contact], dialled: Sequence[Attempt]
) -> list[str]:
    """The calling policy in the contact's zones, and its cap per number and period."""
    policy = compliance.POLICIES.get(config.policy or "none", compliance.POLICIES["none"])
    found: list[str] = []
    by_phone: dict[str, list[datetime]] = defaultdict(list)
    for a in dialled:
        contact = by_contact[a.contact_id]
        by_phone[contact.phone].append(_dialed(a))
        if not policy.has_hours:
            continue
        where = compliance.locate(
            contact.phone, contact.zone, contact.context.get("subdivision") or None
        )
        local = compliance.local_window(policy, where.zones, where.subdivision)
        if not where.zones or (local is not None and not local.is_open(_dialed(a))):
            found.append(
                f"{a.id}: dialled at {_dialed(a).isoformat()}, outside {policy.name} hours"
            )
    if policy.max_attempts is not None:
        for phone, moments in by_phone.items():
            moments.sort()
            for i in range(len(moments) - policy.max_attempts):
                if moments[i + policy.max_attempts] - moments[i] < policy.period:
                    found.append(f"{phone}: more than {policy.max_attempts} attempts in a period")
                    break
    return found


def _dialed(a: Attempt) -> datetime:
    assert a.dialed_at is not None
    return a.dialed_at


def _concurrency(dialled: Sequence[Attempt], cap: int) -> list[str]:
    # A call's end frees its place for a dial at the same instant: ends sort first.
    events = sorted(
        [(_dialed(a), 1, a.id) for a in dialled]
        + [(a.ended_at, -1, a.id) for a in dialled if a.ended_at is not None]
    )
    live = 0
    for at, step, attempt_id in events:
        live += step
        if live > cap:
            return [f"{attempt_id}: {live} calls at once at {at.isoformat()}, over {cap}"]
    return []


def _retries(config: CampaignConfig, dialled: Sequence[Attempt]) -> list[str]:
    policy = config.retry
    budget = 1 + policy.max_retries + sum(r.max_retries or 0 for r in policy.rules)
    rules = {r.name: r for r in policy.rules}
    found: list[str] = []
    chains: dict[str, list[Attempt]] = defaultdict(list)
    for a in dialled:
        chains[a.contact_id].append(a)
    for contact_id, chain in chains.items():
        chain.sort(key=lambda a: a.number)
        if len(chain) > budget:
            found.append(f"contact {contact_id}: {len(chain)} attempts, over the budget {budget}")
        used: Counter[str] = Counter()
        for earlier, later in pairwise(chain):
            rule = rules.get(earlier.retry_rule or "")
            if rule is None or earlier.ended_at is None:
                found.append(f"{later.id}: a retry with no rule after {earlier.id}")
                continue
            # Rules without a budget of their own count their retries together.
            key = rule.name if rule.max_retries is not None else ""
            used[key] += 1
            wait = policy.interval(rule, used[key])
            if _dialed(later) + _EPSILON < earlier.ended_at + wait:
                found.append(
                    f"{later.id}: dialled {_dialed(later) - earlier.ended_at} after the previous "
                    f"call ended, sooner than {wait}"
                )
    return found
