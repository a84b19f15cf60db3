"""Compliance settings and the do-not-call list, shared by the native API and the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from ringcast.core.compliance import POLICIES, REASONS
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.core.model import Contact, ContactState, PredialHook
from ringcast.ports import AccountStore, ComplianceRecords, ContactQueries, Store
from ringcast.records import Campaign, DoNotCall
from ringcast.services import campaigns
from ringcast.services.webhooks import require_public

#: rows per transaction when importing a do-not-call file
IMPORT_BATCH = 2_000


def policy_name(value: str | None, field_name: str = "policy") -> str | None:
    """A known policy name (``none`` is stored as None)."""
    if value is None:
        return None
    if value not in POLICIES:
        raise ValidationFailed.single(field_name, value, f"must be one of {', '.join(POLICIES)}")
    return None if value == "none" else value


def e164(raw: str, field_name: str = "phone") -> str:
    """The number as E.164; the do-not-call list matches on exactly this form."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.single(
            field_name, raw, "must be an E.164 number such as +33612345678"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed.single(field_name, raw, "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def zone_name(value: str | None, field_name: str = "timezone") -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.single(field_name, value, "is not an IANA time zone") from None
    return value


class PolicyStore(AccountStore, ComplianceRecords, Protocol):
    """A store that reads and sets an organization's calling policy."""


def calling_policy(store: AccountStore, org_id: str) -> str:
    """The organization's calling-hours policy, ``none`` when it has none."""
    org = store.get_organization(org_id)
    return (org.calling_policy if org else None) or "none"


def set_calling_policy(store: PolicyStore, org_id: str, policy: str) -> str:
    """Choose the organization's policy (a known name; ``none`` clears it); returns it."""
    store.set_calling_policy(org_id, policy_name(policy))
    return policy


def do_not_call_page(
    store: ContactQueries, org_id: str, search: str | None, offset: int, limit: int
) -> tuple[list[DoNotCall], int]:
    """A page of the organization's list; ``search`` is matched on its digits (``+33 6``,
    ``336`` and ``(33) 6`` find the same numbers), and one without digits matches all."""
    digits = "".join(ch for ch in search or "" if ch.isdigit())
    return store.list_do_not_call(org_id, offset, limit, digits or None)


def set_campaign_compliance(
    store: ComplianceRecords,
    campaign: Campaign,
    policy: str | None,
    predial: PredialHook | None,
    *,
    allow_private: bool = False,
) -> Campaign:
    """Override the campaign's calling policy (an explicit ``none`` is kept: it overrides
    the organization's) and set or clear its pre-dial hook; not once it has finished."""
    if campaign.config.status.is_terminal:
        raise ValidationFailed.single(
            "campaign", campaign.config.status.value, "the campaign has finished"
        )
    if policy is not None:
        policy_name(policy)  # refuses unknown names
    if predial is not None and not predial.url.startswith(("http://", "https://")):
        raise ValidationFailed.single("predial.url", predial.url, "must be an http(s) URL")
    if predial is not None:
        require_public("predial.url", predial.url, allow_private)
    config = replace(campaign.config, policy=policy, predial=predial)
    updated = replace(campaign, config=config)
    store.update_campaign(updated)
    return updated


class ContactZones(Store, ContactQueries, Protocol):
    """A store that can read contacts and set their zone."""


def set_contact_zone(
    store: ContactZones,
    org_id: str,
    workspace_id: str,
    contact_id: str,
    zone: str | None,
    now: datetime,
) -> Contact:
    """Give the workspace's contact its zone (None: the number's); one waiting for want
    of a zone becomes due at once.

    Another organization's or workspace's contact reads exactly like one that does not
    exist: the same "contact" not found, never its campaign's."""
    contact = store.get_contact(contact_id)
    if contact is None:
        raise NotFound("contact", contact_id)
    try:
        campaigns.get(store, contact.campaign_id, org_id, workspace_id)
    except NotFound:
        raise NotFound("contact", contact_id) from None
    updated = store.set_contact_zone(contact_id, zone_name(zone), now)
    if updated is None:  # deleted since it was read: as if it never was
        raise NotFound("contact", contact_id)
    return updated


def add_numbers(
    store: ComplianceRecords, org_id: str, phones: Iterable[str], source: str, now: datetime
) -> int:
    """Validate every number first (all or nothing), then list them; returns how many are new."""
    numbers = [e164(p, f"phones.{i}") for i, p in enumerate(phones)]
    return store.add_do_not_call(org_id, numbers, source, now)


@dataclass
class ImportReport:
    read: int = 0
    added: int = 0
    already_listed: int = 0
    #: (line, value, why) of the lines that were not numbers
    rejected: list[tuple[int, str, str]] = field(default_factory=list)


_SEPARATORS = re.compile(r"[,;\t]")


def import_numbers(
    store: ComplianceRecords,
    org_id: str,
    lines: Iterable[str],
    now: datetime,
    progress: Callable[[int], None] | None = None,
    source: str = "import",
) -> ImportReport:
    """List the numbers of a file, read line by line: one number per line (the first column
    of a CSV; a header line without a number is skipped). Batches commit as they fill, so
    memory stays flat whatever the file's size; bad lines are reported, not fatal."""
    report = ImportReport()
    batch: list[str] = []
    for line_no, raw in enumerate(lines, start=1):
        text = _SEPARATORS.split(raw.strip(), maxsplit=1)[0].strip().strip('"')
        if not text or (line_no == 1 and not any(ch.isdigit() for ch in text)):
            continue
        report.read += 1
        try:
            batch.append(e164(text))
        except ValidationFailed as exc:
            report.rejected.append((line_no, text[:40], exc.errors[0].message))
        if len(batch) >= IMPORT_BATCH:
            _flush(store, org_id, batch, source, now, report, progress)
    _flush(store, org_id, batch, source, now, report, progress)
    return report


def _flush(
    store: ComplianceRecords,
    org_id: str,
    batch: list[str],
    source: str,
    now: datetime,
    report: ImportReport,
    progress: Callable[[int], None] | None,
) -> None:
    if not batch:
        return
    added = store.add_do_not_call(org_id, batch, source, now)
    report.added += added
    report.already_listed += len(batch) - added
    if progress is not None:
        progress(len(batch))
    batch.clear()


def figures(store: ContactQueries, campaign_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """Contacts by state, and waiting or skipped contacts by reason (every reason listed)."""
    return figures_of(store.contact_figures(campaign_id))


def figures_of(
    counts: Mapping[tuple[ContactState, str | None], int],
) -> tuple[dict[str, int], dict[str, int]]:
    """``figures`` from the store's counts by (state, reason)."""
    states = {s.value: 0 for s in ContactState}
    reasons = dict.fromkeys(REASONS, 0)
    for (state, reason), n in counts.items():
        states[state.value] += n
        if reason and state in (ContactState.WAITING, ContactState.SKIPPED):
            reasons[reason] = reasons.get(reason, 0) + n
    return states, reasons


def lines_of(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines from a stream of byte chunks (a request body, a file), never whole."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.decode("utf-8", errors="replace")
    if pending:
        yield pending.decode("utf-8", errors="replace")
