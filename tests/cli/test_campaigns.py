"""``ringcast campaigns``: list, show, pause, resume, cancel, watch and export, run in
process (``CliRunner``) against a database the test fills through the store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from click.testing import Result
from typer.testing import CliRunner

from ringcast.cli import app
from ringcast.cli.campaigns import RowsChoice, StatusChoice, follow
from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.core.model import ContactState
from ringcast.core.states import CampaignStatus
from ringcast.db.store import SqlStore
from ringcast.records import Agent, AgentType, Campaign
from ringcast.runtime import Runtime, open_runtime
from ringcast.services import campaigns as service
from ringcast.services.export import EXPORT_ROWS
from ringcast.services.progress import Progress, progress
from tests.integration import factories

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


@dataclass
class World:
    """A database with two organizations: acme (two campaigns, in two workspaces) and
    beta (one), and the URL the command reads it through."""

    url: str
    store: SqlStore
    spring: Campaign  # acme, default workspace, 3 contacts
    autumn: Campaign  # acme, workspace "sales", no contacts
    theirs: Campaign  # beta

    def cli(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"RINGCAST_DATABASE_URL": self.url, **env})


def _campaign(store: SqlStore, org: str, workspace: str, name: str, contacts: int) -> Campaign:
    organization = store.ensure_organization(factories.new_id(), org, T0)
    ws = store.ensure_workspace(factories.new_id(), organization.id, workspace, T0)
    agent = Agent(factories.new_id(), organization.id, "Reminder", AgentType.OUTBOUND, T0)
    store.add_agent(agent)
    made = factories.campaign(organization.id, ws.id, agent.id, name=name)
    store.create_campaign(made, factories.contacts(made.id, contacts))
    return made


@contextmanager
def _world_at(url: str) -> Iterator[World]:
    """Three campaigns in two organizations (one in another workspace) at ``url``."""
    runtime: Runtime = open_runtime(Settings(database_url=url), upgrade_schema=True)
    store = runtime.store
    try:
        yield World(
            url,
            store,
            _campaign(store, "acme", "default", "Spring reminders", 3),
            _campaign(store, "acme", "sales", "Autumn offers", 0),
            _campaign(store, "beta", "default", "Theirs", 1),
        )
    finally:
        runtime.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = (
        f"sqlite:///{tmp_path / 'rc.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_engine_url")
    )
    with _world_at(url) as made:
        yield made


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    """The same world, on SQLite only (for what does not depend on the backend)."""
    with _world_at(f"sqlite:///{tmp_path / 'rc.db'}") as made:
        yield made


def lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_shows_the_organizations_campaigns_of_every_workspace(world: World) -> None:
    """campaigns list shows the organization's campaigns, every workspace, newest first,
    as text and JSON lines, filtered by --status, and none of another organization's."""
    listed = world.cli("campaigns", "list", "--org", "acme", "--json")
    assert listed.exit_code == 0, listed.output
    rows = lines(listed)
    assert {r["campaign_id"] for r in rows} == {world.spring.id, world.autumn.id}
    assert {r["workspace"] for r in rows} == {"default", "sales"}
    assert all(r["status"] == "scheduled" and r["dialect"] == "volubile" for r in rows)
    text = world.cli("campaigns", "list", "--org", "acme")
    assert text.exit_code == 0 and "2 campaigns" in text.stderr
    assert f"{world.spring.id}  Spring reminders  scheduled  volubile  default" in text.stdout
    assert world.theirs.id not in listed.stdout + text.stdout
    world.store.set_campaign_status(world.autumn.id, CampaignStatus.PAUSED, T0)
    paused = lines(world.cli("campaigns", "list", "--org", "acme", "--status", "paused", "--json"))
    assert [r["campaign_id"] for r in paused] == [world.autumn.id]


def test_show_gives_the_campaign_and_its_figures(world: World) -> None:
    """campaigns show: the campaign, its pacing and its figures (contacts by state, held
    back by reason, dialling now, next dial, final share), as JSON and as text."""
    shown = world.cli("campaigns", "show", "--org", "acme", world.spring.id, "--json")
    assert shown.exit_code == 0, shown.output
    detail = json.loads(shown.stdout)
    assert detail["campaign_id"] == world.spring.id and detail["zone"] == "Europe/Paris"
    assert detail["attempts_per_second"] == 5 and detail["max_concurrent"] == 10
    figures = detail["progress"]
    assert figures["contacts"]["waiting"] == 3 and figures["total"] == 3
    assert figures["final"] == 0 and figures["dialling"] == 0 and figures["ended"] is False
    assert figures["next_dial_at"] == T0.isoformat()
    text = world.cli("campaigns", "show", "--org", "acme", world.spring.id)
    assert text.exit_code == 0, text.output
    assert "Spring reminders" in text.stdout and "0/3 final (0%)" in text.stdout
    assert "dialling now 0" in text.stdout


def test_a_campaign_not_found_is_one_error_line(sqlite_world: World) -> None:
    """An unknown campaign id, or another organization's, is one ``error:`` line, exit 1,
    for every command that takes one; a mistyped --org names the organizations."""
    w = sqlite_world
    for command in ("show", "pause", "resume", "cancel", "watch", "export"):
        for campaign_id in ("no-such-campaign", w.theirs.id):
            done = w.cli("campaigns", command, "--org", "acme", campaign_id)
            assert done.exit_code == 1, (command, done.output)
            assert done.stderr == f"error: campaign {campaign_id} not found\n"
            assert done.stdout == ""
    typo = w.cli("campaigns", "list", "--org", "acmee")
    assert typo.exit_code == 2
    assert typo.stderr.startswith('error: no organization "acmee"; known: acme, beta')


def test_pause_resume_cancel_follow_the_transition_rules(world: World) -> None:
    """pause, resume and cancel move the campaign as the APIs do; a move its status does
    not allow is one ``error:`` line, exit 1, and changes nothing."""
    cid = world.spring.id

    def status_after(action: str) -> str:
        done = world.cli("campaigns", action, "--org", "acme", cid, "--json")
        assert done.exit_code == 0, done.output
        return str(json.loads(done.stdout)["status"])

    assert status_after("pause") == "paused"
    again = world.cli("campaigns", "pause", "--org", "acme", cid)
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr == "error: cannot pause a campaign whose status is paused\n"
    assert status_after("resume") == "scheduled"
    text = world.cli("campaigns", "cancel", "--org", "acme", cid)
    assert text.exit_code == 0 and "scheduled -> cancelled" in text.stdout
    assert world.store.count_contacts(cid) == {ContactState.CANCELLED: 3}
    refused = world.cli("campaigns", "resume", "--org", "acme", cid)
    assert refused.exit_code == 1
    assert refused.stderr == "error: cannot resume a campaign whose status is cancelled\n"
    stored = world.store.get_campaign(cid)
    assert stored is not None and stored.updated_by == "cli"


def test_resume_respects_the_live_campaign_limit(sqlite_world: World) -> None:
    """Resuming needs room in the workspace for one more live campaign, as on the API."""
    w = sqlite_world
    assert w.cli("campaigns", "pause", "--org", "acme", w.spring.id).exit_code == 0
    alone = w.cli(
        "campaigns", "resume", "--org", "acme", w.spring.id, RINGCAST_SARVAM_MAX_LIVE_CAMPAIGNS="1"
    )
    assert alone.exit_code == 0, alone.output  # alone in its workspace: room for one
    assert w.cli("campaigns", "pause", "--org", "acme", w.spring.id).exit_code == 0
    other = _campaign(w.store, "acme", "default", "Another", 0)
    blocked = w.cli(
        "campaigns", "resume", "--org", "acme", w.spring.id, RINGCAST_SARVAM_MAX_LIVE_CAMPAIGNS="1"
    )
    assert blocked.exit_code == 1 and blocked.stderr.startswith("error: the workspace already")
    assert w.store.get_campaign(w.spring.id).config.status is CampaignStatus.PAUSED  # type: ignore[union-attr]
    assert w.store.get_campaign(other.id) is not None


def test_watch_returns_when_the_campaign_is_over(world: World) -> None:
    """watch on a campaign that is over shows its figures once and returns, exit 0: one
    JSON object with --json, the live view's last frame without."""
    world.store.set_campaign_status(world.spring.id, CampaignStatus.CANCELLED, T0)
    watched = world.cli("campaigns", "watch", "--org", "acme", world.spring.id, "--json")
    assert watched.exit_code == 0, watched.output
    [reading] = lines(watched)
    assert reading["ended"] is True and reading["status"] == "cancelled"
    assert reading["contacts"] == {**reading["contacts"], "cancelled": 3}
    assert reading["next_dial_at"] is None
    text = world.cli("campaigns", "watch", "--org", "acme", world.spring.id, "--interval", "0.1")
    assert text.exit_code == 0, text.output
    assert "Spring reminders" in text.stdout and "3/3 final (100%)" in text.stdout
    assert "nobody waiting" in text.stdout


def test_watch_refreshes_until_the_campaign_ends(sqlite_world: World) -> None:
    """follow reads and shows the figures after each wait until the campaign has ended:
    here it is paused, then cancelled, so three readings, the last one final."""
    w = sqlite_world
    cid, owner = w.spring.id, w.spring.org_id
    shown: list[Progress] = []
    changes = iter(
        [
            lambda: w.store.set_campaign_status(cid, CampaignStatus.PAUSED, T0),
            lambda: w.store.set_campaign_status(cid, CampaignStatus.CANCELLED, T0),
        ]
    )
    last = follow(
        lambda: progress(w.store, service.get(w.store, cid, owner), SystemClock().now()),
        shown.append,
        lambda: next(changes)(),
    )
    assert [p.campaign.config.status for p in shown] == [
        CampaignStatus.SCHEDULED,
        CampaignStatus.PAUSED,
        CampaignStatus.CANCELLED,
    ]
    assert last is shown[-1] and last.ended and last.final == 3
    assert shown[0].final == 0 and shown[0].contacts["waiting"] == 3


def test_choices_are_listed_by_help(sqlite_world: World) -> None:
    """--status, --format and --rows are real choices: --help lists them and a value
    outside them exits 2 before anything is read."""
    helped = CliRunner().invoke(app, ["campaigns", "export", "--help"], env={"COLUMNS": "200"})
    assert "<csv>" in helped.stdout and "<contacts|attempts>" in helped.stdout
    listed = CliRunner().invoke(app, ["campaigns", "list", "--help"], env={"COLUMNS": "200"})
    assert "<scheduled|active|paused|ended|cancelled>" in listed.stdout
    assert get_args(StatusChoice) == tuple(s.value for s in CampaignStatus)
    bad = sqlite_world.cli("campaigns", "export", "--org", "acme", "x", "--rows", "calls")
    assert bad.exit_code == 2 and "'calls'" in bad.stderr
    assert get_args(RowsChoice) == EXPORT_ROWS


def test_export_streams_the_results_as_csv(world: World, tmp_path: Path) -> None:
    """campaigns export writes the export service's CSV to stdout, or whole to --output
    (then --json describes the file); --rows attempts has the attempts' columns."""
    cid = world.spring.id
    printed = world.cli("campaigns", "export", "--org", "acme", cid)
    assert printed.exit_code == 0, printed.output
    rows = list(csv.DictReader(io.StringIO(printed.stdout)))
    assert sorted(r["phone"] for r in rows) == sorted(
        c.phone for c in world.store.campaign_contacts(cid)
    )
    assert {r["state"] for r in rows} == {"waiting"} and rows[0]["context.name"]
    target = tmp_path / "out" / "attempts.csv"
    target.parent.mkdir()
    done = world.cli(
        "campaigns", "export", "--org", "acme", cid, "--rows", "attempts",
        "--output", str(target), "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    written = json.loads(done.stdout)
    assert written["output"] == str(target.resolve()) and written["rows"] == "attempts"
    header = target.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("attempt_id,contact_id,phone,attempt_number")
    assert list(target.parent.iterdir()) == [target]  # no .part file left behind
    refused = world.cli("campaigns", "export", "--org", "acme", cid, "--json")
    assert refused.exit_code == 2 and refused.stderr.startswith("error: --json describes")
