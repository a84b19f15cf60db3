"""``ringcast simulate`` as a user runs it: inputs, output, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ringcast.cli import app
from tests.forecast import scenarios

START = "2026-06-01T09:00:00+05:30"


def invoke(*args: str):
    return CliRunner().invoke(app, ["simulate", *args])


def write(tmp_path: Path, body: dict, name: str = "campaign.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return str(path)


def test_json_summary_of_a_sarvam_body_with_generated_contacts(tmp_path: Path) -> None:
    """simulate on a Sarvam body prints consistent JSON figures that depend on the seed alone."""
    body = write(tmp_path, scenarios.sarvam_body())
    r = invoke("--campaign", body, "--contacts", "40", "--start", START, "--seed", "3", "--json")
    assert r.exit_code == 0, r.output
    figures = json.loads(r.stdout)
    assert figures["contacts"] == 40
    assert figures["reached"] + figures["exhausted"] + figures["waiting"] == 40
    assert figures["attempts"] == sum(figures["attempts_per_day"].values())
    assert figures["attempts"] == sum(figures["outcomes"].values())
    assert figures["all_final"] and figures["violations"] == []
    assert figures["zone"] == "Asia/Kolkata"
    again = invoke(
        "--campaign", body, "--contacts", "40", "--start", START, "--seed", "3", "--json"
    )
    assert json.loads(again.stdout) == figures  # same seed, same forecast
    other = invoke(
        "--campaign", body, "--contacts", "40", "--start", START, "--seed", "4", "--json"
    )
    assert json.loads(other.stdout) != figures


def test_volubile_body_recipients_csv_contacts_and_the_readable_summary(tmp_path: Path) -> None:
    """simulate takes a Volubile body's recipients or a CSV of contacts, prints a readable
    summary and writes a trace in local time."""
    body = scenarios.volubile_body(
        recipients=[{"phone": "+33612345678"}, {"phone": "+33612345679"}]
    )
    path = write(tmp_path, body)
    r = invoke("--campaign", path, "--start", "2026-10-23T08:00:00+02:00")
    assert r.exit_code == 0, r.output
    assert "contacts 2:" in r.stdout and "last contact final at" in r.stdout
    assert "no attempt outside the allowed hours" in r.stdout
    csv = tmp_path / "people.csv"
    csv.write_text("phone,firstName\n+33612345670,Ada\n+33612345671,Grace\n+33612345672,\n")
    trace = tmp_path / "t.jsonl"
    r = invoke(
        "--campaign", path, "--contacts", str(csv), "--start", "2026-10-23T08:00:00+02:00",
        "--trace", str(trace), "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in trace.read_text().splitlines()]
    assert {row["contact"] for row in rows} == {"+33612345670", "+33612345671", "+33612345672"}
    assert set(rows[0]) == {
        "contact", "attempt", "due_at", "dialed_at", "outcome", "duration_s", "connection",
        "caller",
    }  # fmt: skip
    assert rows[0]["attempt"] == 0 and rows[0]["dialed_at"].endswith("+02:00")


def test_until_stops_the_run(tmp_path: Path) -> None:
    """--until stops the forecast at that moment, with contacts still waiting."""
    body = write(tmp_path, scenarios.sarvam_body())
    r = invoke(
        "--campaign", body, "--contacts", "500", "--start", START,
        "--until", "2026-06-01T10:30:00+05:30", "--json",
    )  # fmt: skip
    figures = json.loads(r.stdout)
    assert not figures["all_final"] and figures["waiting"] > 0
    assert list(figures["attempts_per_day"]) == ["2026-06-01"]
    assert figures["stopped_at"] == "2026-06-01T10:30:00+05:30"


def test_bad_inputs_exit_2_naming_what_is_wrong(tmp_path: Path) -> None:
    """Each bad input exits with status 2 and a message naming the problem, never a traceback."""
    good = write(tmp_path, scenarios.sarvam_body())
    bad_rate = write(
        tmp_path,
        scenarios.sarvam_body(app_config={**scenarios.sarvam_body()["app_config"],
                                          "attempts_per_second": -1}),
        "bad.json",
    )  # fmt: skip
    neither = write(tmp_path, {"name": "x"}, "neither.json")
    notjson = tmp_path / "broken.json"
    notjson.write_text("{")
    csv = tmp_path / "bad.csv"
    csv.write_text("phone\n+33612345678\nnot-a-number\n")
    cases = [
        (["--campaign", bad_rate, "--contacts", "3", "--start", START], "attempts_per_second"),
        (["--campaign", neither, "--contacts", "3", "--start", START], "neither a Volubile"),
        (["--campaign", str(notjson), "--contacts", "3", "--start", START], "not a JSON file"),
        (["--campaign", good, "--contacts", "3", "--start", "2026-06-01T09:00"], "no UTC offset"),
        (["--campaign", good, "--contacts", "3", "--start", "soon"], "'soon'"),
        (["--campaign", good, "--start", START], "no contacts"),
        (["--campaign", good, "--contacts", "3", "--start", START, "--outcomes", "happy=1"],
         "--outcomes"),
        (["--campaign", good, "--contacts", str(csv), "--start", START], "bad.csv:3"),
        (["--campaign", good, "--contacts", "3", "--start", START, "--until", START],
         "is not after --start"),
    ]  # fmt: skip
    for args, expected in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert expected in r.output, (args, r.output)
        assert "Traceback" not in r.output
