"""``ringcast simulate``: read the inputs, run the forecast, print what it found."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ringcast import forecast
from ringcast.cli import inputs
from ringcast.cli.common import PolicyChoice, err, fail, load_settings, out
from ringcast.core.compliance import POLICIES
from ringcast.core.pacing import PacingLimits
from ringcast.gateways.simulator import DEFAULT_MIX, OutcomeModel
from ringcast.services.campaigns import NewCampaign, Recipient

#: Contacts above which a progress bar is worth showing.
LONG_RUN = 5_000


class UsageError(Exception):
    """Bad input; the message says which and why."""


def simulate(
    campaign: Annotated[
        Path,
        typer.Option(
            help="The create body a client would send, Volubile's or Sarvam's (JSON).",
            exists=True,
            dir_okay=False,
        ),
    ],
    start: Annotated[
        str, typer.Option(help="When the campaign is launched: ISO 8601 with an offset.")
    ],
    contacts: Annotated[
        str | None,
        typer.Option(
            help="A number of generated contacts, or a CSV with a 'phone' column "
            "(other columns become context). Default: the body's recipients."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Stop at this moment (default: when nothing is left).")
    ] = None,
    outcomes: Annotated[
        str | None,
        typer.Option(help="Outcome probabilities, e.g. answered=0.5,no_answer=0.3,busy=0.2."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same forecast.")] = 0,
    policy: Annotated[
        PolicyChoice | None,
        typer.Option(help="Calling-hours policy in the contacts' zones."),
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="Write one JSON line per attempt to this file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
) -> None:
    """Forecast a campaign on virtual time: the real engine, a seeded outcome model."""
    try:
        run(
            campaign=campaign,
            start=start,
            contacts=contacts,
            until=until,
            outcomes=outcomes,
            seed=seed,
            policy=policy,
            trace=trace,
            as_json=as_json,
        )
    except UsageError as exc:
        fail(str(exc), code=2)


def run(
    *,
    campaign: Path,
    start: str,
    contacts: str | None,
    until: str | None,
    outcomes: str | None,
    seed: int,
    trace: Path | None,
    policy: str | None = None,
    as_json: bool,
) -> None:
    started = _instant("--start", start)
    stop = _instant("--until", until) if until else None
    if stop is not None and stop <= started:
        raise UsageError(f"--until {until} is not after --start {start}")
    try:
        model = OutcomeModel.parse(outcomes or DEFAULT_MIX, seed=seed)
    except ValueError as exc:
        raise UsageError(f"--outcomes: {exc}") from None
    new = _campaign(campaign)
    if policy is not None:
        if policy not in POLICIES:
            raise UsageError(f"--policy {policy!r}: must be one of {', '.join(POLICIES)}")
        new = replace(new, config=replace(new.config, policy=policy))
    recipients = _recipients(contacts, new)
    if not recipients:
        raise UsageError("no contacts: the body has no recipients; give --contacts N or FILE.csv")
    result = _forecast(new, recipients, model, started, stop, quiet=as_json)
    if trace is not None:
        with trace.open("w", encoding="utf-8") as f:
            for row in result.trace():
                f.write(json.dumps(row.as_json(result.zone)) + "\n")
    figures = result.summary()
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        _print(out, new.name, figures)


def _forecast(
    new: NewCampaign,
    recipients: list[Recipient],
    model: OutcomeModel,
    started: datetime,
    stop: datetime | None,
    *,
    quiet: bool,
) -> forecast.Forecast:
    """The forecast, with a progress bar on a terminal when the run is long."""
    if quiet or not err.is_terminal or len(recipients) < LONG_RUN:
        return forecast.from_new_campaign(new, recipients, model, started, stop)
    with Progress(
        TextColumn("[bold]forecast[/bold] {task.fields[at]}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} contacts final"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("forecast", total=len(recipients), at="")

        def progress(now: datetime, final: int, total: int) -> None:
            bar.update(task, completed=final, total=total, at=now.strftime("%Y-%m-%d %H:%M"))

        return forecast.from_new_campaign(new, recipients, model, started, stop, progress)


def _instant(flag: str, text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not an ISO 8601 moment") from None
    if at.tzinfo is None:
        raise UsageError(f"{flag} {text!r} has no UTC offset; add one, e.g. +02:00 or Z")
    return at


def _campaign(path: Path) -> NewCampaign:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON file ({exc})") from None
    settings = load_settings()
    defaults = PacingLimits(
        attempts_per_second=settings.default_attempts_per_second,
        max_concurrent=settings.default_max_concurrent,
    )
    try:
        return inputs.new_campaign(body, defaults)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']} "
            f"(got {json.dumps(e.get('input'), default=str)[:80]})"
            for e in exc.errors()
        )
        raise UsageError(f"{path}: {problems}") from None
    except inputs.InputError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _recipients(contacts: str | None, new: NewCampaign) -> list[Recipient]:
    try:
        if contacts is None:
            return list(new.recipients)
        if contacts.isdigit():
            count = int(contacts)
            if count < 1:
                raise UsageError("--contacts must be at least 1")
            return inputs.generated(count, new.config.schedule.weekly.zone)
        path = Path(contacts)
        if not path.is_file():
            raise UsageError(f"--contacts {contacts!r} is neither a number nor a CSV file")
        return list(inputs.read_csv(path))
    except inputs.InputError as exc:
        raise UsageError(str(exc)) from None


def _print(out: Console, name: str, f: dict[str, Any]) -> None:
    out.print(f"[bold]{name}[/bold]  forecast from {f['start']} ({f['zone']})")
    out.print(
        f"contacts {f['contacts']:,}: reached {f['reached']:,}, exhausted {f['exhausted']:,}, "
        f"still waiting {f['waiting']:,}" + (f", skipped {f['skipped']:,}" if f["skipped"] else "")
    )
    out.print(
        f"attempts {f['attempts']:,}; " + ", ".join(f"{k} {v:,}" for k, v in f["outcomes"].items())
    )
    if f["all_final"]:
        out.print(f"last contact final at [bold]{f['last_final_at']}[/bold]")
    else:
        out.print(f"not finished by {f['stopped_at']}; last final at {f['last_final_at']}")
    days = Table("local day", "attempts", box=None, pad_edge=False)
    for day, n in f["attempts_per_day"].items():
        days.add_row(day, f"{n:,}")
    out.print(days)
    for reason, n in f["deferred"].items():
        out.print(f"deferred or skipped, {reason}: {n:,} contacts")
    if f["violations"]:
        out.print(f"[red]{len(f['violations'])} rule violations[/red], first: {f['violations'][0]}")
    else:
        out.print("no attempt outside the allowed hours or over a limit")
