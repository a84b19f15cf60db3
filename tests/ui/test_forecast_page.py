"""The forecast page: a body in either dialect and its contacts in, ``ringcast simulate``'s
figures out, nothing created. In-process for the figures and refusals; in a real browser
for the same end date as the command line, the charts, axe-core and screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ringcast.api.app import create_app
from ringcast.cli import app as cli
from ringcast.clock import VirtualClock
from ringcast.config import Settings
from ringcast.records import CampaignQuery
from ringcast.runtime import Runtime, open_runtime
from ringcast.services import accounts
from tests.forecast import scenarios

from .conftest import Server, audit, sign_in
from .serving import serve

NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
START = "2026-06-01T09:00:00+05:30"
CSV = "phone,firstName\n+33612345670,Ada\n+33612345671,Grace\n+33612345672,\n"


def simulate(*args: str) -> dict[str, Any]:
    """What ``ringcast simulate --json`` prints for these arguments."""
    done = CliRunner().invoke(cli, ["simulate", *args, "--json"])
    assert done.exit_code == 0, done.output
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def end_of(html: str) -> str:
    """The moment the page gives as the end: the ``datetime`` of ``#forecast-end``'s time."""
    block = re.search(r'id="forecast-end">(.*?)</p>', html, re.S)
    assert block is not None, html[-3000:]
    moment = re.search(r'<time datetime="([^"]+)"', block.group(1))
    assert moment is not None
    return moment.group(1)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One database for the module: the forecast page writes nothing to it."""
    tmp = tmp_path_factory.mktemp("forecast")
    rt = open_runtime(Settings(database_url=f"sqlite:///{tmp / 'rc.db'}", data_dir=str(tmp / "d")))
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[tuple[TestClient, str]]:
    """A client signed in with a fresh key, and the page's CSRF token."""
    clock = VirtualClock(NOW)
    issued = accounts.issue_key(runtime.store, clock, "acme")
    with TestClient(create_app(runtime, clock)) as c:
        c.post(
            "/ui/sign-in",
            data={"api_key": issued.plaintext, "csrf_token": csrf(c.get("/ui/sign-in").text)},
        )
        page = c.get("/ui/forecast")
        assert page.status_code == 200
        yield c, csrf(page.text)


def test_the_page_gives_simulates_figures_for_a_volubile_body_and_a_pasted_csv(
    client: tuple[TestClient, str], runtime: Runtime, tmp_path: Path
) -> None:
    """A Volubile body with a pasted CSV of contacts forecasts the same end, reach and
    attempts as ``ringcast simulate`` with the same inputs, and creates no campaign."""
    c, token = client
    body = scenarios.volubile_body()
    start = "2026-10-23T08:00:00+02:00"
    shown = c.post(
        "/ui/forecast",
        data={"campaign": json.dumps(body), "contacts": CSV, "start": start, "seed": "5",
              "csrf_token": token},
    )  # fmt: skip
    assert shown.status_code == 200, shown.text[-2000:]
    (tmp_path / "c.json").write_text(json.dumps(body))
    (tmp_path / "p.csv").write_text(CSV)
    figures = simulate(
        "--campaign", str(tmp_path / "c.json"), "--contacts", str(tmp_path / "p.csv"),
        "--start", start, "--seed", "5",
    )  # fmt: skip
    assert figures["all_final"] and end_of(shown.text) == figures["last_final_at"]
    assert f"<dt>Reached</dt><dd>{figures['reached']}</dd>" in shown.text
    assert f"<dt>Attempts</dt><dd>{figures['attempts']}</dd>" in shown.text
    assert "+02:00" in shown.text or "+01:00" in shown.text  # times carry their offset
    data = re.search(r'id="forecast-data">(.*?)</script>', shown.text, re.S)
    assert data is not None
    charts = json.loads(data.group(1))
    assert charts["days"]["attempts"] == list(figures["attempts_per_day"].values())
    assert charts["completion"][-1][1] == figures["reached"] + figures["exhausted"]
    org = runtime.store.find_organization("acme")
    assert org is not None
    workspace = runtime.store.default_workspace(org.id)
    assert workspace is not None
    assert runtime.store.list_campaigns(CampaignQuery(workspace.id), 0, 10)[1] == 0


def test_uploaded_files_and_generated_contacts_match_the_command_line(
    client: tuple[TestClient, str], tmp_path: Path
) -> None:
    """An uploaded Sarvam body with generated contacts, and with an uploaded CSV, give
    simulate's end dates (the file wins over an empty text box)."""
    c, token = client
    body = json.dumps(scenarios.sarvam_body())
    (tmp_path / "s.json").write_text(body)
    generated = c.post(
        "/ui/forecast",
        data={"generated": "40", "start": START, "seed": "3", "csrf_token": token},
        files={"campaign_file": ("s.json", body.encode(), "application/json")},
    )
    assert generated.status_code == 200, generated.text[-2000:]
    expected = simulate(
        "--campaign", str(tmp_path / "s.json"), "--contacts", "40", "--start", START,
        "--seed", "3",
    )  # fmt: skip
    assert end_of(generated.text) == expected["last_final_at"]
    people = "phone\n" + "".join(f"+9198765432{i:02d}\n" for i in range(12))
    (tmp_path / "in.csv").write_text(people)
    uploaded = c.post(
        "/ui/forecast",
        data={"start": START, "outcomes": "answered=0.5,busy=0.5", "csrf_token": token},
        files={
            "campaign_file": ("s.json", body.encode(), "application/json"),
            "contacts_file": ("in.csv", people.encode(), "text/csv"),
        },
    )
    assert uploaded.status_code == 200, uploaded.text[-2000:]
    expected = simulate(
        "--campaign", str(tmp_path / "s.json"), "--contacts", str(tmp_path / "in.csv"),
        "--start", START, "--outcomes", "answered=0.5,busy=0.5",
    )  # fmt: skip
    assert end_of(uploaded.text) == expected["last_final_at"]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"campaign": "{not json"}, "campaign", "not JSON"),
        ({"campaign": "{}"}, "campaign", "neither a Volubile"),
        ({"campaign": json.dumps(scenarios.sarvam_body())}, "contacts", "No contacts"),
        ({"contacts": "number\n+33612345678\n"}, "contacts", "no &#39;phone&#39; column"),
        ({"contacts": "phone\n12\n"}, "contacts", "contacts:2"),
        ({"generated": "0"}, "generated", "a whole number"),
        ({"generated": "40", "start": "2026-06-01T09:00"}, "start", "no UTC offset"),
        ({"generated": "40", "outcomes": "bogus=1"}, "outcomes", "bad outcome weight"),
        ({"generated": "40", "seed": "x"}, "seed", "not a whole number"),
        ({"generated": "40", "policy": "mars"}, "policy", "must be one of"),
        ({"campaign": json.dumps({"agentId": "a", "days": ["NOPE"]})}, "campaign", "days"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    client: tuple[TestClient, str], fields: dict[str, str], field: str, words: str
) -> None:
    """Each bad input comes back as the form (422) with the message beside its field,
    the field marked invalid and what was typed kept."""
    c, token = client
    data = {"campaign": json.dumps(scenarios.sarvam_body()), "start": START, "csrf_token": token}
    data.update(fields)
    shown = c.post("/ui/forecast", data=data)
    assert shown.status_code == 422
    message = re.search(rf'id="{field}-error" role="alert">([^<]*)<', shown.text)
    assert message is not None and words in message.group(1), shown.text[-3000:]
    assert f'aria-describedby="{field}-error' in shown.text
    assert 'id="forecast-end"' not in shown.text


def test_the_form_needs_a_session_and_its_token(runtime: Runtime) -> None:
    """Without a session the page leads to sign-in; a forecast posted without the form's
    token is refused (403)."""
    clock = VirtualClock(NOW)
    with TestClient(create_app(runtime, clock), follow_redirects=False) as c:
        assert c.get("/ui/forecast").headers["location"].startswith("/ui/sign-in")
        issued = accounts.issue_key(runtime.store, clock, "initech")
        c.post(
            "/ui/sign-in",
            data={"api_key": issued.plaintext, "csrf_token": csrf(c.get("/ui/sign-in").text)},
        )
        refused = c.post("/ui/forecast", data={"campaign": "{}", "start": START})
        assert refused.status_code == 403


@pytest.fixture(scope="module")
def forecast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("ui-forecast")) as server:
        yield server


def test_in_a_browser_the_page_shows_simulates_end_date(
    forecast_server: Server, browser: Any, tmp_path: Path
) -> None:
    """Pasting a Sarvam body and choosing generated contacts in a real browser shows the
    end date ``ringcast simulate`` prints, with both charts drawn; the form and the result
    pass axe-core and are photographed at 1280 and 360 px."""
    body = json.dumps(scenarios.sarvam_body(), indent=2)
    (tmp_path / "s.json").write_text(body)
    expected = simulate(
        "--campaign", str(tmp_path / "s.json"), "--contacts", "60", "--start", START,
        "--seed", "7",
    )  # fmt: skip
    server = forecast_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, server, server.acme)
        page.get_by_role("link", name="Forecast").click()
        page.get_by_role("heading", name="Forecast before launch").wait_for()
        audit(page, "forecast")
        page.get_by_label("Paste it").fill(body)
        page.get_by_label("or generate this many numbers").fill("60")
        page.get_by_label("Launch at (ISO 8601 with offset)").fill(START)
        page.get_by_label("Seed").fill("7")
        page.get_by_label("Outcome probabilities").focus()
        page.keyboard.press("Enter")  # submitted from the keyboard
        end = page.locator("#forecast-end time")
        end.wait_for()
        assert end.get_attribute("datetime") == expected["last_final_at"]
        assert expected["last_final_at"][:10] in page.locator("#forecast-end").inner_text()
        page.locator("#chart-days canvas").wait_for()
        page.locator("#chart-completion canvas").wait_for()
        audit(page, "forecast-result")
    finally:
        context.close()
