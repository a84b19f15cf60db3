"""End to end through real processes: the Twilio, LiveKit and Retell gateways, on SQLite
and on PostgreSQL.

An operator's deployment (``ringcast serve`` without its dispatcher, one ``ringcast
worker``) calls through a provider connection with two caller numbers, each capped at 25
calls an hour. A Sarvam campaign of 50 contacts goes out on it, so both numbers are needed.
The provider is a local fake that speaks its wire format: it plays each number's script
(a person, a voicemail, busy, no answer), and the reports it signs are posted to the
server over HTTP, as the provider would post them. What a client then reads (the
campaign's figures and its per-attempt webhooks) must show every contact final, each
attempt's outcome and ``answered_by`` as scripted and the caller number it showed; the
fake must have seen exactly one create per attempt and no number over its cap in an hour.

Starting the processes is most of the cost, so one deployment per store serves the three
gateway tests; each test has its own connection, contacts and campaign.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from ringcast.clock import SystemClock
from ringcast.core.callers import hour_of
from ringcast.gateways.livekit import read_record
from tests.conftest import PG_SECRET_KEY, PG_URL
from tests.fakes import livekit_fake, retell_fake, twilio_fake
from tests.support import free_port

WALL = SystemClock()  # the processes run on wall time, so the fakes do too
CONTACTS = 50
CALLERS = ("+33186950000", "+33186950001")
CAP = 25  #: calls per caller number per hour: 50 contacts need both numbers
KINDS = ("human", "voicemail", "busy", "no_answer")
#: what a Sarvam client reads for each script: (connectivity, completion, answered_by)
EXPECTED = {
    "human": ("connected", "completed", "human"),
    "voicemail": ("no_answer", "failed", "machine"),
    "busy": ("busy", "failed", None),
    "no_answer": ("no_answer", "failed", None),
}
RETELL_KEY = "key_e2e_retell_0123456789"
EVERY_DAY = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --- the deployment ----------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    base: str
    key: dict[str, str]
    agent: str
    logs: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key["api_key"]}

    def sarvam(self, path: str) -> str:
        org, workspace = self.key["org_id"], self.key["workspace_id"]
        return f"{self.base}/api/scheduling/v1/orgs/{org}/workspaces/{workspace}{path}"

    def callback_url(self, gateway: str, connection_id: str) -> str:
        return f"{self.base}/ringcast/v1/gateway/{gateway}/{connection_id}"

    def log_tail(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.logs.glob("*.log")))


def _cli(env: dict[str, str], *args: str | Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ringcast", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"ringcast {args}: {done.stderr}"
    return done.stdout


def _start(env: dict[str, str], tmp: Path, *args: str) -> subprocess.Popen[bytes]:
    """``ringcast <args>`` in the background, its output in ``<tmp>/<command>.log``."""
    with (tmp / f"{args[0]}.log").open("w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "ringcast", *args], env=env, stdout=log, stderr=log
        )


@pytest.fixture(scope="module")
def pg_url(pg_available: None) -> Iterator[str]:
    """A fresh PostgreSQL schema for one deployment (``pg_engine_url``'s, held for the
    module: its processes outlive a test)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """``ringcast serve`` (no embedded dispatcher) and one ``ringcast worker`` on one store."""
    tmp = tmp_path_factory.mktemp(request.param)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCAST_")}
    env.update(
        RINGCAST_DATABASE_URL=f"sqlite:///{tmp / 'rc.db'}",
        RINGCAST_DATA_DIR=str(tmp / "data"),
        RINGCAST_EMBEDDED_DISPATCHER="false",
        RINGCAST_PUBLIC_URL=base,
        RINGCAST_WEBHOOKS_ALLOW_PRIVATE="true",  # the fakes and the webhook receiver
        RINGCAST_SARVAM_MIN_LEAD_S="0",
        RINGCAST_LOG_LEVEL="warning",
    )
    keys = ["keys", "create", "--org", "acme", "--json"]
    made = None
    if request.param == "postgres":
        env["RINGCAST_DATABASE_URL"] = request.getfixturevalue("pg_url")
        env["RINGCAST_SECRET_KEY"] = PG_SECRET_KEY
        _cli(env, "db", "upgrade")  # migrated on purpose, before anything opens it
    else:
        made = _cli(env, *keys)  # the first command on a SQLite file creates and migrates it
    # The processes start while the key and the agent are made: starting is slow.
    processes = [_start(env, tmp, "serve", "--port", str(port)), _start(env, tmp, "worker")]
    try:
        key = json.loads(made or _cli(env, *keys))
        prompt = tmp / "prompt.txt"
        prompt.write_text("Hello {{ name }}")
        register = ["agents", "create", "--org", "acme", "--name", "A", "--json"]
        agent = json.loads(_cli(env, *register, "--prompt-file", prompt))["agent_id"]
        deployed = Deployment(base, key, agent, tmp)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                stopped = any(p.poll() is not None for p in processes)
                if stopped or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{deployed.log_tail()}")
                time.sleep(0.2)
        assert all(p.poll() is None for p in processes), deployed.log_tail()
        yield deployed
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            p.wait(timeout=30)


# --- what a client reads -----------------------------------------------------------------


class _Receiver(ThreadingHTTPServer):
    # ringcast sends a batch of due webhooks at once; the default backlog of 5 would drop
    # some connections and leave them to the 5 s retry
    request_queue_size = 128


class Hooks:
    """The campaign's webhook receiver: Sarvam's per-attempt payloads, by attempt id."""

    def __init__(self) -> None:
        self.attempts: dict[str, dict[str, Any]] = {}
        self.url = ""

    @contextmanager
    def serving(self) -> Iterator[Hooks]:
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if "connectivity_status" in body:  # not a campaign lifecycle event
                    hooks.attempts[body["attempt_id"]] = body
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server = _Receiver(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def start_campaign(dep: Deployment, connection_id: str, users: list[str], hook_url: str) -> str:
    """A Sarvam campaign of ``users`` routed to the connection, starting at once, no retries."""
    now = WALL.now()
    made = httpx.post(
        dep.sarvam("/campaigns"),
        headers=dep.headers,
        json={
            "name": f"e2e {connection_id}",
            "app_config": {
                "app_id": dep.agent,
                "attempts_per_second": 50,
                "connection_configs": [
                    {"connection_id": connection_id, "phone_numbers": list(CALLERS)}
                ],
                "retry_config": {"max_retries": 0},
            },
            "start_timestamp": (now + timedelta(seconds=0.5)).isoformat(),
            "end_timestamp": (now + timedelta(hours=1)).isoformat(),
            "allowed_schedule": {
                "allowed_start_time": "00:00",
                "allowed_end_time": "23:59",
                "allowed_days": EVERY_DAY,
                "timezone": "UTC",
            },
            "webhook_config": {"url": hook_url},
        },
    )
    assert made.status_code == 201, made.text
    campaign_id: str = made.json()["campaign_id"]
    streamed = httpx.post(
        dep.sarvam(f"/campaigns/{campaign_id}/cohorts/stream"),
        headers=dep.headers,
        json={
            "name": "all",
            "users": [{"user_phone_number": p, "app_variables": {"name": p}} for p in users],
        },
    )
    assert streamed.status_code == 202, streamed.text
    return campaign_id


def contact_states(dep: Deployment, campaign_id: str) -> dict[str, int]:
    figures = httpx.get(
        f"{dep.base}/ringcast/v1/campaigns/{campaign_id}/figures", headers=dep.headers
    )
    assert figures.status_code == 200, figures.text
    states: dict[str, int] = figures.json()["contacts"]
    return states


# --- the providers -----------------------------------------------------------------------


class Provider(Protocol):
    """A provider's side of the calls: its fake, driven as the provider would act."""

    def settings(self) -> dict[str, Any]:
        """The connection's settings block for this provider."""
        ...

    def script(self, number: str, kind: str) -> None:
        """What happens to calls to ``number``: one of ``KINDS``."""
        ...

    def pump(self) -> None:
        """Play what is due and post every signed report the provider has to send."""
        ...

    def creates(self) -> list[tuple[str, str]]:
        """(attempt id, caller number) of every create request the fake received, once the
        fake found none of its requests outside the provider's contract."""
        ...


#: one report a provider sends: where to, its headers, its exact bytes
Report = tuple[str, dict[str, str], bytes]


def _post(streams: list[list[Report]]) -> None:
    """POST each stream's reports in order and the streams side by side, as a provider
    reports on each call in order and on many calls at once; ringcast takes every one."""

    def post(stream: list[Report]) -> list[tuple[str, int]]:
        with httpx.Client(timeout=10) as client:
            return [(u, client.post(u, content=b, headers=h).status_code) for u, h, b in stream]

    with ThreadPoolExecutor(max_workers=8) as pool:
        for answers in pool.map(post, streams):
            assert all(status == 204 for _, status in answers), answers


class Twilio:
    """Twilio's Calls API; its status and answering-machine callbacks, each at its time."""

    SCENARIOS = {
        "human": replace(twilio_fake.SCENARIOS["human"], ring_s=1, duration_s=2),
        "voicemail": replace(twilio_fake.SCENARIOS["voicemail"], ring_s=1, duration_s=2),
        "busy": replace(twilio_fake.SCENARIOS["busy"], ring_s=1),
        "no_answer": replace(twilio_fake.SCENARIOS["no_answer"], ring_s=2),
    }

    def __init__(self, fake: twilio_fake.TwilioFake) -> None:
        self.fake = fake
        self.waiting: list[tuple[datetime, twilio_fake.SignedCallback]] = []

    def settings(self) -> dict[str, Any]:
        return {
            "account_sid": self.fake.account_sid,
            "auth_token": self.fake.auth_token,
            "answer_url": "https://agent.example.com/twiml",
            "machine_detection": "DetectMessageEnd",
            "api_base_url": self.fake.url,
        }

    def script(self, number: str, kind: str) -> None:
        self.fake.script[number] = self.SCENARIOS[kind]

    def pump(self) -> None:
        # The fake has a call's callbacks as soon as it is placed; each goes at its
        # Timestamp (the answering-machine verdict, which has none, right after the answer).
        due_at = WALL.now()
        for callback in self.fake.pop_callbacks():
            stamp = callback.params.get("Timestamp")
            due_at = parsedate_to_datetime(stamp) if stamp else due_at
            self.waiting.append((due_at, callback))
        now = WALL.now()
        calls: dict[str, list[Report]] = {}
        for at, c in self.waiting:
            if at <= now:
                calls.setdefault(c.params["CallSid"], []).append((c.url, c.headers, c.body))
        self.waiting = [(at, c) for at, c in self.waiting if at > now]
        _post(list(calls.values()))

    def creates(self) -> list[tuple[str, str]]:
        made = [
            form
            for method, path, form in list(self.fake.requests)
            if method == "POST" and path.endswith("/Calls.json")
        ]
        assert self.fake.contract_errors == []
        return [(_query(f["StatusCallback"][-1])["attempt_id"], f["From"][-1]) for f in made]


class LiveKit:
    """LiveKit SIP with its agent: webhooks about the rooms, and the agent's report."""

    KINDS = {
        "human": livekit_fake.HUMAN,
        "voicemail": livekit_fake.MACHINE,
        "busy": livekit_fake.BUSY,
        "no_answer": livekit_fake.NO_ANSWER,
    }
    TALK = timedelta(seconds=2)
    MACHINE_TALK = timedelta(seconds=8)  #: how long the fake's agent says a voicemail lasted

    def __init__(self, fake: livekit_fake.FakeLiveKit) -> None:
        self.fake = fake
        self.played: set[str] = set()

    def settings(self) -> dict[str, Any]:
        return {
            "url": self.fake.url,
            "api_key": livekit_fake.API_KEY,
            "api_secret": livekit_fake.API_SECRET,
            "sip_trunk_id": livekit_fake.TRUNK_ID,
            "agent_name": livekit_fake.AGENT_NAME,
        }

    def script(self, number: str, kind: str) -> None:
        self.fake.scenarios[number] = livekit_fake.Scenario(self.KINDS[kind], self.TALK)

    def pump(self) -> None:
        # A busy or unanswered call has ended at its create. An answered one (the gateway
        # wrote the answer into its room) goes on until the callee hangs up, then the agent
        # reports and LiveKit closes the room.
        now = WALL.now()
        for name, room in list(self.fake.rooms.items()):
            answered_at = read_record(room.room.metadata).get("answered_at")
            if name in self.played or answered_at is None:
                continue
            machine = room.scenario.kind == livekit_fake.MACHINE
            talk = self.MACHINE_TALK if machine else room.scenario.talk
            if datetime.fromisoformat(answered_at) + talk <= now:
                self.played.add(name)
                self.fake.play(name.removeprefix("rc-"))
        # one stream: a room's reports must keep their order (the agent's before room_finished)
        _post([[(d.url, d.headers, d.body) for d in self.fake.take_deliveries()]])

    def creates(self) -> list[tuple[str, str]]:
        return [
            (m.room_name.removeprefix("rc-"), m.sip_number)
            for name, m in list(self.fake.requests)
            if name == "CreateSIPParticipant"
        ]


class Retell:
    """Retell's API; call_started, call_ended and call_analyzed when a call is over."""

    SHORT = {"ring": timedelta(seconds=1), "talk": timedelta(seconds=2)}
    SCENARIOS = {
        "human": replace(retell_fake.HUMAN, **SHORT),
        "voicemail": replace(retell_fake.MACHINE, **SHORT),
        "busy": replace(retell_fake.BUSY, ring=timedelta(seconds=1)),
        "no_answer": replace(retell_fake.NO_ANSWER, ring=timedelta(seconds=2)),
    }

    def __init__(self, fake: retell_fake.RetellFake, callback_url: str) -> None:
        self.fake = fake
        self.callback_url = callback_url
        self.seen = 0  #: calls in ``fake.placed`` seen so far
        self.ends: dict[str, datetime] = {}  #: calls going on, by when they end

    def settings(self) -> dict[str, Any]:
        return {"api_key": RETELL_KEY, "agent_id": "agent_e2e", "api_base_url": self.fake.base_url}

    def script(self, number: str, kind: str) -> None:
        self.fake.scenarios[number] = self.SCENARIOS[kind]

    def pump(self) -> None:
        # A call ends as its scenario says, counted from when it was first seen placed;
        # Retell then sends its webhooks.
        now = WALL.now()
        placed = list(self.fake.placed)
        for call_id in placed[self.seen :]:
            s = self.fake.scenario_for(self.fake.calls[call_id]["to_number"])
            self.ends[call_id] = now + s.ring + (s.talk if s.status == "ended" else timedelta(0))
        self.seen = len(placed)
        ended = [call_id for call_id, at in self.ends.items() if at <= now]
        for call_id in ended:
            del self.ends[call_id]
        url = self.callback_url
        _post([[(url, r.headers, r.body) for r in self.fake.finish(c)] for c in ended])

    def creates(self) -> list[tuple[str, str]]:
        assert self.fake.invalid_requests == []
        return [
            (r["metadata"]["attempt_id"], r["from_number"]) for r in list(self.fake.create_requests)
        ]


def _query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@contextmanager
def provider(gateway: str, callback_url: str) -> Iterator[Provider]:
    """The gateway's fake, serving on loopback."""
    if gateway == "twilio":
        with twilio_fake.TwilioFake(WALL.now).serving() as twilio:
            yield Twilio(twilio)
    elif gateway == "livekit":
        with livekit_fake.FakeLiveKit(callback_url, WALL.now).running() as livekit:
            yield LiveKit(livekit)
    else:
        retell = retell_fake.RetellFake(RETELL_KEY, "agent_e2e", WALL.now).start()
        try:
            yield Retell(retell, callback_url)
        finally:
            retell.stop()


# --- the test ----------------------------------------------------------------------------


@pytest.mark.parametrize("gateway", ["twilio", "livekit", "retell"])
def test_a_campaign_runs_through_a_provider_gateway(deployment: Deployment, gateway: str) -> None:
    """50 contacts through one provider connection with two capped caller numbers: every
    contact ends final with its number's scripted outcome and answered_by, the provider saw
    one create per attempt and no number over its hourly cap, and every attempt shows the
    caller number its call went out from."""
    dep = deployment
    connection_id = f"{gateway}-e2e"
    area = 2 + ["twilio", "livekit", "retell"].index(gateway)  # contacts apart per test
    script = {f"+3361{area}{i:06d}": KINDS[i % len(KINDS)] for i in range(CONTACTS)}
    started = time.monotonic()
    callback_url = dep.callback_url(gateway, connection_id)
    with provider(gateway, callback_url) as side, Hooks().serving() as hooks:
        for number, kind in script.items():
            side.script(number, kind)
        registered = httpx.put(
            f"{dep.base}/ringcast/v1/connections/{connection_id}",
            headers=dep.headers,
            json={
                "gateway": gateway,
                "caller_numbers": list(CALLERS),
                "max_concurrent": CONTACTS,
                "caller_number_max_per_hour": CAP,
                gateway: side.settings(),
            },
        )
        assert registered.status_code == 201, registered.text
        campaign_id = start_campaign(dep, connection_id, list(script), hooks.url)

        deadline = time.monotonic() + 45
        while True:
            side.pump()
            states = contact_states(dep, campaign_id)
            final = sum(states.get(s, 0) for s in ("reached", "exhausted")) == CONTACTS
            if final and len(hooks.attempts) == CONTACTS:
                break
            assert time.monotonic() < deadline, (
                f"not done: contacts {states}, {len(hooks.attempts)} webhooks\n{dep.log_tail()}"
            )
            time.sleep(0.2)
        creates = side.creates()
    attempts = hooks.attempts

    assert sorted(p["user_phone_number"] for p in attempts.values()) == sorted(script)
    for p in attempts.values():
        seen = (p["connectivity_status"], p["completion_status"], p["answered_by"])
        assert seen == EXPECTED[script[p["user_phone_number"]]], p
        assert p["next_action_status"] is None  # final: nothing more will be tried
    # exactly one create per attempt, from the caller number the attempt recorded
    assert Counter(a for a, _ in creates) == Counter(attempts.keys())
    assert all(attempts[a]["agent_phone_number"] == caller for a, caller in creates)
    per_hour = Counter(
        (caller, hour_of(datetime.fromisoformat(attempts[a]["executed_at"])))
        for a, caller in creates
    )
    assert max(per_hour.values()) <= CAP, per_hour
    assert {caller for _, caller in creates} == set(CALLERS)
    used = Counter(caller for _, caller in creates)
    print(f"{gateway}: calls per caller number {dict(used)}, {time.monotonic() - started:.1f} s")
