"""``ringcast campaigns``: list, show, pause, resume, cancel, watch and export the
organization's campaigns, through the same services the APIs use (tenancy, transition
rules, the live-campaign limit on resume, the export's rows).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ringcast.cli.common import (
    JsonFlag,
    JsonLinesFlag,
    OrgOption,
    echo_json,
    err,
    fail,
    opened,
    org_id,
    out,
)
from ringcast.clock import SystemClock
from ringcast.core.states import CampaignAction
from ringcast.ports import SqlStoreApi
from ringcast.records import Campaign, CampaignQuery
from ringcast.services import campaigns as service
from ringcast.services import scheduling
from ringcast.services.export import ExportRows, csv_chunks
from ringcast.services.progress import Progress, progress

campaigns_app = typer.Typer(
    help="Campaigns: list, show, pause, resume, cancel, watch, export.", no_args_is_help=True
)

#: Choices ``--help`` lists (tests/cli checks the statuses against ``CampaignStatus``).
StatusChoice = Literal["scheduled", "active", "paused", "ended", "cancelled"]
FormatChoice = Literal["csv"]
RowsChoice = ExportRows

CampaignId = Annotated[str, typer.Argument(help="The campaign's id.")]
#: who the command line records as having changed a campaign (its ``updated_by``)
ACTOR = "cli"


@campaigns_app.command("list")
def campaigns_list(
    org: OrgOption,
    status: Annotated[StatusChoice | None, typer.Option(help="Only campaigns in it.")] = None,
    search: Annotated[
        str | None, typer.Option(help="Only campaigns whose name holds it (any case).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    as_json: JsonLinesFlag = False,
) -> None:
    """The organization's campaigns, every workspace, newest first: id, name, status,
    the API that made it, workspace, when made."""
    with opened() as runtime:
        store = runtime.store
        where = CampaignQuery(None, status, search, org_id=org_id(runtime, org))
        found, total = store.list_campaigns(where, 0, limit)
        names = _workspace_names(store, found)
    for c in found:
        if as_json:
            echo_json(_summary(c, names))
        else:
            out.print(
                f"{c.id}  {c.name}  {c.config.status.value}  {c.dialect.value}  "
                f"{names[c.workspace_id]}  {c.created_at:%Y-%m-%d %H:%M}",
                highlight=False,
                markup=False,
            )
    if not as_json:
        err.print(f"{total} campaigns")


@campaigns_app.command("show")
def campaigns_show(org: OrgOption, campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
    """One campaign: what it is, its schedule and pacing, and its figures now."""
    with opened() as runtime:
        store = runtime.store
        campaign = service.get(store, campaign_id, org_id(runtime, org))
        now = progress(store, campaign, SystemClock().now())
        names = _workspace_names(store, [campaign])
    config = campaign.config
    window = config.schedule.weekly
    detail = {
        **_summary(campaign, names),
        "description": campaign.description,
        "agent_id": campaign.agent_id,
        "agent_version": campaign.agent_version,
        "zone": window.zone,
        "starts_at": _iso(config.schedule.starts_at),
        "ends_at": _iso(config.schedule.ends_at),
        "attempts_per_second": config.pacing.attempts_per_second,
        "max_concurrent": config.pacing.max_concurrent,
        "calls_per_day": config.pacing.calls_per_day,
        "policy": config.policy,
        "progress": now.as_json(),
    }
    if as_json:
        echo_json(detail)
        return
    facts = Table.grid(padding=(0, 2))
    for key in ("workspace", "dialect", "agent_id", "zone", "starts_at", "ends_at"):
        facts.add_row(key.replace("_", " "), str(detail[key] or "-"))
    pacing = f"{detail['attempts_per_second'] or '-'}/s, at once {detail['max_concurrent'] or '-'}"
    facts.add_row("pacing", pacing)
    out.print(Group(facts, Text(""), view(now)))


@campaigns_app.command("pause")
def campaigns_pause(org: OrgOption, campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
    """Pause a scheduled or active campaign: nobody more is dialled until it resumes."""
    _act(org, campaign_id, CampaignAction.PAUSE, as_json)


@campaigns_app.command("resume")
def campaigns_resume(org: OrgOption, campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
    """Resume a paused campaign (back to scheduled; it dials inside its window), if its
    workspace has room for one more live campaign."""
    _act(org, campaign_id, CampaignAction.RESUME, as_json)


@campaigns_app.command("cancel")
def campaigns_cancel(org: OrgOption, campaign_id: CampaignId, as_json: JsonFlag = False) -> None:
    """Cancel a campaign for good, with every contact still waiting."""
    _act(org, campaign_id, CampaignAction.CANCEL, as_json)


def _act(org: str, campaign_id: str, action: CampaignAction, as_json: bool) -> None:
    """The action as the APIs apply it (``scheduling.act``): a transition the campaign's
    status does not allow is one ``error:`` line, exit 1, and changes nothing."""
    with opened() as runtime:
        store = runtime.store
        campaign = service.get(store, campaign_id, org_id(runtime, org))
        limits = scheduling.Limits.of(runtime.settings)
        changed = scheduling.act(store, SystemClock(), campaign, action, ACTOR, limits)
        names = _workspace_names(store, [changed])
    if as_json:
        echo_json(_summary(changed, names))
    else:
        was, now = campaign.config.status.value, changed.config.status.value
        out.print(f"{changed.id}  {changed.name}  {was} -> {now}", highlight=False, markup=False)


@campaigns_app.command("watch")
def campaigns_watch(
    org: OrgOption,
    campaign_id: CampaignId,
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between two readings of the figures.")
    ] = 2.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per reading, one per line.")
    ] = False,
) -> None:
    """Follow a campaign's figures live until it ends or is cancelled, or Ctrl-C (which
    stops watching, exit 0, and leaves the campaign as it is)."""
    clock = SystemClock()
    with opened() as runtime:
        store = runtime.store
        owner = org_id(runtime, org)
        service.get(store, campaign_id, owner)  # an unknown id fails before anything shows

        def read() -> Progress:
            return progress(store, service.get(store, campaign_id, owner), clock.now())

        def wait() -> None:
            time.sleep(interval)

        try:
            if as_json:
                follow(read, lambda p: echo_json(p.as_json()), wait)
            else:
                from rich.live import Live

                with Live(console=out, auto_refresh=False) as live:
                    follow(read, lambda p: live.update(view(p), refresh=True), wait)
        except KeyboardInterrupt:
            pass


def follow(
    read: Callable[[], Progress], show: Callable[[Progress], None], wait: Callable[[], None]
) -> Progress:
    """Read and show the figures, then wait and again, until the campaign has ended;
    returns its last figures."""
    while True:
        now = read()
        show(now)
        if now.ended:
            return now
        wait()


def view(p: Progress) -> RenderableType:
    """The figures as ``watch`` and ``show`` draw them."""
    c = p.campaign
    status = c.config.status.value
    style = {"active": "green", "paused": "yellow", "cancelled": "red"}.get(status, "bold")
    head = Text.assemble((c.name, "bold"), f"  {c.id}  ", (status, style))
    states = Table("contacts", "", box=None, pad_edge=False, header_style="bold")
    for state, n in p.contacts.items():
        states.add_row(state, f"{n:,}")
    reasons = Table("held back", "", box=None, pad_edge=False, header_style="bold")
    for reason, n in p.reasons.items():
        if n:
            reasons.add_row(reason, f"{n:,}")
    figures = Table.grid(padding=(0, 6))
    figures.add_row(states, reasons if reasons.row_count else Text("nothing held back"))
    if p.next_due_at is None:
        next_dial = "nobody waiting"
    elif p.next_due_at <= p.at:
        next_dial = f"due now ({p.next_due_at:%Y-%m-%d %H:%M:%S %Z})"
    else:
        next_dial = f"{p.next_due_at:%Y-%m-%d %H:%M:%S %Z} (in {_span(p.next_due_at - p.at)})"
    share = p.final / p.total if p.total else 1.0
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(p.total, 1), completed=p.final if p.total else 1, width=40),
        Text(f"{p.final:,}/{p.total:,} final ({share:.0%})"),
    )
    return Group(
        head,
        figures,
        Text(f"dialling now {p.dialling:,}    next dial {next_dial}"),
        bar,
    )


@campaigns_app.command("export")
def campaigns_export(
    org: OrgOption,
    campaign_id: CampaignId,
    format_: Annotated[FormatChoice, typer.Option("--format", help="The file's format.")] = "csv",
    rows: Annotated[
        RowsChoice, typer.Option(help="One row per contact, or one per attempt.")
    ] = "contacts",
    output: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Write to this file (default: standard output)."),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="With --output: print what was written as one JSON object."),
    ] = False,
) -> None:
    """The campaign's results, streamed from the database as they are read (any size)."""
    if as_json and output is None:
        fail("--json describes the file written: give --output FILE", code=2)
    with opened() as runtime:
        campaign = service.get(runtime.store, campaign_id, org_id(runtime, org))
        chunks = csv_chunks(runtime.store, campaign, rows)
        if output is None:
            _to_stdout(chunks)
            return
        part = output.with_name(output.name + ".part")
        written = 0
        with part.open("w", encoding="utf-8", newline="") as f:
            for chunk in chunks:
                written += f.write(chunk)
        part.replace(output)  # a reader never sees half a file
    if as_json:
        echo_json(
            {
                "campaign_id": campaign.id,
                "format": format_,
                "rows": rows,
                "output": str(output.resolve()),
                "characters": written,
            }
        )
    else:
        err.print(f"wrote {output}", highlight=False, markup=False)


def _to_stdout(chunks: Iterable[str]) -> None:
    try:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        # Python's own advice: point stdout at devnull so its flush at exit stays quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _workspace_names(store: SqlStoreApi, found: list[Campaign]) -> dict[str, str]:
    names: dict[str, str] = {}
    for c in found:
        if c.workspace_id not in names:
            ws = store.get_workspace(c.workspace_id)
            names[c.workspace_id] = ws.name if ws else c.workspace_id
    return names


def _summary(c: Campaign, workspaces: dict[str, str]) -> dict[str, Any]:
    return {
        "campaign_id": c.id,
        "name": c.name,
        "status": c.config.status.value,
        "dialect": c.dialect.value,
        "workspace": workspaces[c.workspace_id],
        "workspace_id": c.workspace_id,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"
