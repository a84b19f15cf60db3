"""Hardening seen from outside, through a real ``ringcast serve``: an oversized body costs
the server nothing, and what the access log writes keeps secrets out."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import running_serve, serve_env

MB = 1_000_000


@dataclass
class Server:
    base: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    key: dict[str, str]

    def rss(self) -> int:
        """The server process's resident memory, in bytes."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = serve_env(tmp_path, embedded_dispatcher="false", log_level="info")
    key = json.loads(
        subprocess.run(
            [sys.executable, "-m", "ringcast", "keys", "create", "--org", "acme", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out, running_serve(env, out) as (base, proc):
        yield Server(base, urlsplit(base).port or 0, proc, log, key)


def _post_huge(port: int, path: str, size: int, *, chunked: bool) -> bytes:
    """POST ``size`` bytes (declared, or chunked with no length) as fast as the server
    takes them; what it answered, once it answered or stopped reading."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {size}\r\n"
    block = b"{" + b" " * (MB - 1)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((head + "\r\n").encode())
        s.settimeout(0.5)
        sent = 0
        answer = b""
        try:
            while sent < size:
                s.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
                sent += len(block)
                try:
                    answer += s.recv(65536)  # answered early: stop sending
                    if answer:
                        break
                except TimeoutError:
                    pass
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        s.settimeout(5)
        try:
            while b"\r\n\r\n" not in answer:
                more = s.recv(65536)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError):
            pass
    return answer


@pytest.mark.parametrize(
    ("path", "chunked"),
    [("/ringcast/v1/gateway/retell/anyone", False), ("/v1/campaigns", True)],
    ids=["callback-declared", "volubile-chunked"],
)
def test_an_unauthenticated_300_mb_post_is_refused_without_the_server_growing(
    server: Server, path: str, chunked: bool
) -> None:
    """300 MB posted without credentials, to the provider callback route with its length
    declared or to a Volubile route streamed without one (FastAPI reads a body before it
    checks the key), is answered 413 and the server's memory grows by less than 50 MB
    (the callback route took it from 243 MB to 2.16 GB before bodies were bounded)."""
    before = server.rss()
    answer = _post_huge(server.port, path, 300 * MB, chunked=chunked)
    after = server.rss()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert after - before < 50 * MB, (before, after)
    assert httpx.get(f"{server.base}/healthz").status_code == 200  # still serving


def test_the_access_log_keeps_keys_out_and_every_line_is_json(server: Server) -> None:
    """A key sent in the query string is answered but never written to the server's log;
    uvicorn's access lines are JSON from the same logger as ringcast's own."""
    key = server.key["api_key"]
    assert httpx.get(f"{server.base}/v1/agents", params={"api_key": key}).status_code == 401
    assert httpx.get(f"{server.base}/v1/agents", headers={"X-Api-Key": key}).is_success
    time.sleep(0.5)  # the access log is written after the answer
    server.proc.terminate()
    server.proc.wait(timeout=30)
    text = server.log.read_text()
    assert key not in text and key.split("_")[2] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert any("/v1/agents?api_key=[redacted]" in str(line["event"]) for line in access)
    assert {line.get("logger") for line in lines} >= {"uvicorn.error", "uvicorn.access"}
