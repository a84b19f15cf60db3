"""The README's Quickstart, followed as a newcomer follows it: a fresh ``git clone`` of this
repository's HEAD, the clone's own scripts, and the commands of the Quickstart's ``sh``
blocks run as written, in order, from the clone's root; calls get placed. And
``examples/agent_runtime.py`` behind ``RINGCAST_GATEWAY=http``, as the README's section on
it starts them, takes a call to its end.

The commands come from README.md itself, so the README cannot drift from what works. What
the test puts in: the values the README asks the reader to copy from earlier output (the
``<api key>``-style placeholders of its ``export`` lines), its own free port for 8000
and 8700, a data directory under ``tmp_path`` (``XDG_DATA_HOME``), short simulated calls,
and no three-minute wait: Sarvam's lead before a start (``'+3 minutes'`` in the README) is
five seconds here, with ``RINGCAST_SARVAM_MIN_LEAD_S=0``.

Installing a fresh ``.venv`` in the clone costs minutes, so the clone's ``.venv`` borrows
this interpreter's installed packages (a ``.pth`` file, the clone's own ``src/`` first)
and carries the stamp ``scripts/_venv.sh`` looks for: the clone's scripts run as they
are, without reinstalling (a ``pip`` of its own stops them if they try). The clone is of
HEAD: commit before running this test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import shutil
import signal
import site
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: how long a step may take on a loaded machine before the test gives up on it
STEP_TIMEOUT_S = 90

pytestmark = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("curl")),
    reason="the Quickstart needs git (to clone) and curl (its API steps)",
)


# --- the clone ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of HEAD whose .venv borrows this interpreter's packages."""
    dest = tmp_path_factory.mktemp("newcomer") / "ringcast"
    done = subprocess.run(
        ["git", "clone", "-q", str(REPO), str(dest)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"git clone of {REPO} failed: {done.stderr}"
    _borrow_environment(dest)
    return dest


def _borrow_environment(clone: Path) -> None:
    """Make ``clone/.venv`` as ``scripts/_venv.sh`` would leave it, without installing:
    a venv whose site-packages reads the clone's ``src/`` first, then this interpreter's
    packages; a ``ringcast`` entry point; the stamp ``_venv.sh`` wants. Should the scripts
    still try to install (the stamp's recipe changed), a ``pip`` of the venv's own stops
    them at once, saying why, instead of installing for minutes."""
    venv = clone / ".venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    (packages,) = venv.glob("lib/python3*/site-packages")
    borrowed = [str(clone / "src"), *site.getsitepackages()]
    (packages / "_ringcast_borrowed.pth").write_text("\n".join(borrowed) + "\n")
    (packages / "pip").mkdir()
    (packages / "pip" / "__init__.py").write_text("")  # a package, found before the real one
    (packages / "pip" / "__main__.py").write_text(
        "raise SystemExit('test_quickstart: scripts/_venv.sh wants to install into the "
        "borrowed .venv: its stamp is no longer what _venv_stamp computes')\n"
    )
    entry = venv / "bin" / "ringcast"
    entry.write_text(
        f"#!{venv / 'bin' / 'python'}\nimport sys\n\nfrom ringcast.cli import main\n\n"
        "sys.exit(main())\n"
    )
    entry.chmod(0o755)
    (venv / ".ringcast-installed").write_text(_venv_stamp(clone) + "\n")


def _venv_stamp(clone: Path) -> str:
    """The stamp ``ensure_venv`` compares with, by its own ``want=`` line (the files it
    hashes may change; the way it names them in one line is what this relies on)."""
    script = (clone / "scripts" / "_venv.sh").read_text()
    (recipe,) = re.findall(r"^\s*(want=.*)$", script, flags=re.MULTILINE)
    done = subprocess.run(
        ["bash", "-c", f'set -euo pipefail\n{recipe}\nprintf %s "$want"'],
        cwd=clone, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return done.stdout


# --- reading the README -------------------------------------------------------------


def section(readme: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = readme.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", readme[start + 1 :])]
    return readme[start : start + 1 + ends[0]] if ends else readme[start:]


def sh_blocks(text: str) -> list[str]:
    """The ``sh`` code blocks of ``text``, in order (``text`` blocks show output)."""
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]


# --- running commands as a reader does ------------------------------------------------


class Reader:
    """A second terminal at the clone's root: runs blocks, keeps what they printed."""

    def __init__(self, clone: Path, env: dict[str, str], ports: dict[int, int]) -> None:
        self.clone = clone
        self.env = env
        self.ports = ports
        #: what the README's placeholders stand for, as earlier steps printed it
        self.printed: dict[str, str] = {}

    def localise(self, block: str) -> str:
        for usual, ours in self.ports.items():
            block = block.replace(f"127.0.0.1:{usual}", f"127.0.0.1:{ours}")
            block = block.replace(f"--port {usual}", f"--port {ours}")
        return block.replace("'+3 minutes'", "'+5 seconds'")

    def run(self, block: str) -> str:
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + self.localise(block)],
            cwd=self.clone, env=self.env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S,
        )  # fmt: skip
        assert done.returncode == 0, f"{block}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        return done.stdout

    def export(self, block: str) -> None:
        """An ``export`` line: the README's placeholders become what was printed."""
        assert block.startswith("export ") and "\n" not in block, block
        for name, value in re.findall(r"(\w+)=(<[^>]+>|\S+)", block):
            if value.startswith("<"):
                assert value[1:-1] in self.printed, f"{value}: no earlier step printed it"
                value = self.printed[value[1:-1]]
            self.env[name] = self.localise(value)

    @contextmanager
    def background(self, block: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
        """A block left running in a terminal of its own (its process group is ended after)."""
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["bash", "-c", self.localise(block)], cwd=self.clone, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=ctrl_c_interrupts,
            )  # fmt: skip
            try:
                yield proc
            finally:
                _end(proc)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-Api-Key": self.env["KEY"]}
        return httpx.request(method, self.env["RC"] + path, headers=headers, timeout=30, **kwargs)


def ctrl_c_interrupts() -> None:
    """In the child: Ctrl-C (SIGINT) does what it does in a terminal, even when this test
    runs as a background job, whose children start with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _end(proc: subprocess.Popen[Any]) -> None:
    """Stop a process group this test started: Ctrl-C first, then harder."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            continue


def wait_until(
    what: str, ready: Any, timeout: float = STEP_TIMEOUT_S, logs: tuple[Path, ...] = ()
) -> Any:
    """``ready()``'s first true answer; on timeout, fail showing ``logs``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = ready()
        except httpx.TransportError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            shown = "".join(f"\n--- {log}:\n{log.read_text(errors='replace')}" for log in logs)
            pytest.fail(f"timed out waiting for {what}{shown}")
        time.sleep(0.2)


def serving(reader: Reader, log: Path) -> Any:
    """Wait until the server a block started answers (its log shown if it never does)."""

    def up() -> bool:
        return httpx.get(reader.env["RC"] + "/healthz", timeout=2).status_code == 200

    return wait_until("the server to answer", up, logs=(log,))


def newcomer_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    return env


SERVER_SETTINGS = {
    "RINGCAST_SARVAM_MIN_LEAD_S": "0",  # with '+5 seconds' for the README's '+3 minutes'
    "RINGCAST_SIMULATOR_TALK_S": "0.5",
    "RINGCAST_SIMULATOR_RING_S": "0.2",
    "RINGCAST_LOG_LEVEL": "warning",
}


# --- the Quickstart -------------------------------------------------------------------


def test_the_quickstart_runs_as_written_on_a_fresh_clone(clone: Path, tmp_path: Path) -> None:
    """Every command of the Quickstart runs from a fresh clone as written: a key, an agent,
    a campaign through each vendor API, its contacts as a CSV with its mapping; calls get
    placed; watch, pause, resume and the results work through the CLI and the API."""
    readme = (clone / "README.md").read_text(encoding="utf-8")
    blocks = sh_blocks(section(readme, "## Quickstart").split("\n### ")[0])
    assert "'+3 minutes'" in readme  # what localise shortens: the test must not wait it out
    port = free_port()
    reader = Reader(clone, newcomer_env(tmp_path), {8000: port})
    assert blocks[0] == "./scripts/serve", blocks[0]
    server_env = {**reader.env, **SERVER_SETTINGS, "RINGCAST_PORT": str(port)}
    steps: list[str] = []
    log = tmp_path / "serve.log"
    with Reader(clone, server_env, reader.ports).background(blocks[0], log) as server:
        steps.append("serve")
        reader.env["RC"] = f"http://127.0.0.1:{port}"
        serving(reader, log)
        for block in blocks[1:]:
            steps.append(follow(reader, block, tmp_path))
        assert server.poll() is None, log.read_text()
    assert steps == [
        "serve", "key", "export", "agent", "export", "volubile campaign", "sarvam campaign",
        "export", "contacts", "watch", "figures", "pause", "resume", "pause", "resume",
        "export csv", "export csv", "calls",
    ]  # fmt: skip


def follow(reader: Reader, block: str, tmp_path: Path) -> str:
    """Run one Quickstart block and check what it did; the name of the step it was."""
    if block.startswith("export "):
        reader.export(block)
        return "export"
    if "campaigns watch" in block:
        # placed calls first, so that the watch has figures to show
        wait_until("calls placed", lambda: placed_calls(reader), logs=(tmp_path / "serve.log",))
        watch(reader, block)
        return "watch"
    out = reader.run(block)
    if "keys create" in block:
        key = re.search(r"\brc_[A-Za-z0-9_-]+", out)
        assert key, out
        reader.printed["api key"] = key[0]
        org, workspace = re.findall(UUID, out)[:2]
        reader.printed.update({"organization id": org, "workspace id": workspace})
        return "key"
    if "agents create" in block:
        reader.printed["agent id"] = re.findall(UUID, out)[0]
        return "agent"
    if "campaigns pause" in block or "campaigns resume" in block:
        want = {"paused"} if "pause" in block else {"scheduled", "active"}
        assert sarvam_status(reader) in want
        return "pause" if "pause" in block else "resume"
    if "--format csv" in block or "export?format=csv" in block:
        text = out or (reader.clone / "results.csv").read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 10, text  # one per contact of examples/contacts.csv
        return "export csv"
    body = json.loads(out)
    if "cohorts/upload" in block:
        assert body["cohort_id"] and body["status"] in ("processing", "completed"), body
        return "contacts"
    if "/figures" in block:
        assert sum(body["contacts"].values()) == 10, body
        return "figures"
    if '"action"' in block:
        action = "pause" if '"action": "pause"' in block else "resume"
        assert body["status"] in ({"paused"} if action == "pause" else {"scheduled", "active"})
        return action
    if "/v1/calls" in block:
        assert body["totalElements"] >= 1, body
        assert {c["campaignName"] for c in body["content"]} == {"Quickstart Sarvam"}
        return "calls"
    if "$RC/v1/campaigns" in block:
        assert body["status"] == "ACTIVE" and body["name"] == "Quickstart (Volubile)", body
        return "volubile campaign"
    if '$WS/campaigns"' in block:
        assert body["status"] == "scheduled", body
        reader.printed["campaign_id"] = body["campaign_id"]
        return "sarvam campaign"
    pytest.fail(f"a Quickstart block this test does not know: {block}")


def placed_calls(reader: Reader) -> int:
    page = reader.api("GET", "/v1/calls", params={"campaignName": "Quickstart Sarvam"}).json()
    return int(page["totalElements"])


def sarvam_status(reader: Reader) -> str:
    e = reader.env
    path = f"/api/scheduling/v1/orgs/{e['ORG']}/workspaces/{e['WS']}/campaigns/{e['CAMPAIGN']}"
    return str(reader.api("GET", path).json()["status"])


def watch(reader: Reader, block: str) -> None:
    """``campaigns watch``, in a terminal as a reader runs it, shows the campaign live until
    Ctrl-C, which ends it cleanly."""
    terminal, attached = pty.openpty()
    env = {"TERM": "xterm-256color", **reader.env}
    proc = subprocess.Popen(
        ["bash", "-c", reader.localise(block)], cwd=reader.clone, env=env,
        stdin=attached, stdout=attached, stderr=attached, start_new_session=True,
        preexec_fn=ctrl_c_interrupts,
    )  # fmt: skip
    os.close(attached)
    shown = bytearray()

    def read(seconds: float) -> str:
        if select.select([terminal], [], [], seconds)[0]:
            with suppress(OSError):  # EIO: every writer has gone
                shown.extend(os.read(terminal, 65536))
        return shown.decode(errors="replace")

    def drawn() -> bool:
        text = read(0.2)
        return ("Quickstart Sarvam" in text and "contacts" in text) or proc.poll() is not None

    try:
        wait_until("the watch to show the campaign", drawn)
        assert proc.poll() is None, read(0)  # it keeps watching a live campaign
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=15)
        for _ in range(50):  # what it printed last, until nothing more comes
            size = len(shown)
            read(0.1)
            if len(shown) == size:
                break
    finally:
        _end(proc)
        os.close(terminal)
    text = shown.decode(errors="replace")
    assert proc.returncode == 0, text  # Ctrl-C ends a watch normally
    assert "Traceback" not in text and "error:" not in text, text


# --- examples/agent_runtime.py --------------------------------------------------------


def test_the_example_runtime_takes_calls_to_their_end(clone: Path, tmp_path: Path) -> None:
    """The README's http-gateway section, run as written: the example runtime gets signed
    dials from ringcast, and its signed reports end each call: an answered one
    ``COMPLETED`` with its transcript, a number ending in 9 ``NO_ANSWER``."""
    readme = (clone / "README.md").read_text(encoding="utf-8")
    heading = "### Your own voice-agent runtime (the `http` gateway)"
    secret, runtime, serve = sh_blocks(section(readme, heading))
    port, runtime_port = free_port(), free_port()
    reader = Reader(clone, newcomer_env(tmp_path), {8000: port, 8700: runtime_port})
    reader.env["RINGCAST_HTTP_GATEWAY_SECRET"] = reader.run(
        secret + '\nprintf %s "$RINGCAST_HTTP_GATEWAY_SECRET"'
    )
    reader.env["RC"] = f"http://127.0.0.1:{port}"
    server_env = {**reader.env, **SERVER_SETTINGS, "RINGCAST_PORT": str(port)}
    runtime_log, serve_log = tmp_path / "runtime.log", tmp_path / "serve.log"
    with (
        reader.background(runtime, runtime_log),
        Reader(clone, server_env, reader.ports).background(serve, serve_log),
    ):
        serving(reader, serve_log)
        account = json.loads(reader.run("./scripts/ringcast keys create --org acme --json"))
        reader.env["KEY"] = account["api_key"]
        agent = json.loads(
            reader.run(
                "./scripts/ringcast agents create --org acme --name Reminder "
                "--prompt-file examples/agent-prompt.txt --json"
            )
        )["agent_id"]
        base = f"/api/scheduling/v1/orgs/{account['org_id']}/workspaces/{account['workspace_id']}"
        made = reader.api("POST", f"{base}/campaigns", json=sarvam_body(clone, agent))
        assert made.status_code == 201, made.text
        users = [
            {"user_phone_number": phone, "user_identifier": ident,
             "app_variables": {"firstName": ident, "orderNumber": "B-1"}}
            for phone, ident in (("+919876543210", "Asha"), ("+919876543219", "Rahul"))
        ]  # fmt: skip
        streamed = reader.api(
            "POST",
            f"{base}/campaigns/{made.json()['campaign_id']}/cohorts/stream",
            json={"name": "runtime", "users": users},
        )
        assert streamed.status_code == 202, streamed.text

        def ended() -> list[dict[str, Any]] | None:
            calls = reader.api("GET", "/v1/calls").json()["content"]
            done = len(calls) == 2 and all(c["status"] != "IN_PROGRESS" for c in calls)
            return calls if done else None

        calls = {
            c["phone"]: c
            for c in wait_until("both calls to end", ended, logs=(runtime_log, serve_log))
        }
        answered = calls["+919876543210"]
        transcript = reader.api("GET", f"/v1/calls/{answered['id']}/transcript").json()
    assert calls["+919876543219"]["status"] == "NO_ANSWER", calls
    assert answered["status"] == "COMPLETED", answered
    assert answered["extractedData"] == {"delivery_day": "tomorrow"}
    assert [t["actor"] for t in transcript] == ["AGENT", "HUMAN"]
    assert "Hello Asha" in transcript[0]["message"]
    assert runtime_log.read_text().count("dialling") == 2


def sarvam_body(clone: Path, agent: str) -> dict[str, Any]:
    """The Quickstart's Sarvam campaign, starting now (the server wants no lead here)."""
    text = (clone / "examples" / "sarvam-campaign.json").read_text(encoding="utf-8")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))  # noqa: TID251 (the wall clock a real server reads)
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))  # noqa: TID251 (as above)
    filled = text.replace("AGENT_ID", agent).replace("START_TIMESTAMP", now)
    return dict(json.loads(filled.replace("END_TIMESTAMP", later)))
