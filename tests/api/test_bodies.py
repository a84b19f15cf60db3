"""Every request body is bounded before it is read (``api.bodies``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI

from ringcast.api.bodies import CALLBACK_LIMIT, Limits

from .conftest import Account

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/campaigns", "default"),
        ("/api/scheduling/v1/orgs/o/workspaces/w/campaigns", "default"),
        ("/api/scheduling/v1/orgs/o/workspaces/w/campaigns/c/cohorts/stream", "default"),
        ("/api/scheduling/v1/orgs/o/workspaces/w/campaigns/c/cohorts/upload", "uploads"),
        ("/ringcast/v1/do-not-call/import", "uploads"),
        ("/ringcast/v1/do-not-call", "default"),
        ("/ringcast/v1/gateway/events", "callbacks"),
        ("/ringcast/v1/gateway/twilio/paris/amd", "callbacks"),
        ("/ringcast/v1/account/webhook", "default"),
    ],
)
def test_each_route_has_its_limit(path: str, limit: str) -> None:
    """Uploads get the upload limit, callbacks theirs, every other route the default."""
    limits = Limits(default=4 * MiB, uploads=256 * MiB)
    expected = {"default": 4 * MiB, "uploads": 256 * MiB, "callbacks": CALLBACK_LIMIT}
    assert limits.of(path) == expected[limit]


def _post_streamed(
    app: FastAPI, path: str, chunks: int, headers: list[Any]
) -> tuple[int, bytes, int]:
    """POST ``chunks`` 64 KiB chunks with no declared length; the status, the body and
    how many chunks the app pulled."""
    chunk = b" " * 65536
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, pulled


def test_a_body_over_the_default_is_413_before_it_is_read_whole(
    app: FastAPI, client, account: Account
) -> None:
    """A 5 MiB body to an ordinary route is 413 at once when its length says so, and after
    at most the limit's worth of chunks when it does not, authenticated or not, in the
    surface's own error shape."""
    declared = client.post("/v1/campaigns", content=b" " * (5 * MiB), headers=account.headers)
    assert declared.status_code == 413
    assert declared.json()["status"] == 413 and "4194304" in declared.json()["message"]
    auth = [(b"x-api-key", account.key.encode())]
    status, body, pulled = _post_streamed(app, "/v1/campaigns", 80, auth)
    assert status == 413 and b'"status":413' in body
    assert pulled <= 4 * MiB // 65536 + 1 < 80
    sarvam = f"/api/scheduling/v1/orgs/{account.org_id}/workspaces/{account.workspace_id}/campaigns"
    status, body, pulled = _post_streamed(app, sarvam, 80, [])
    assert status == 413 and body.startswith(b'{"detail":"the request body may not exceed')


def test_an_upload_may_be_larger_than_the_default(app: FastAPI, account: Account) -> None:
    """A do-not-call import of 5 MiB (over the default, under the upload limit) is read
    and answered, not refused for its size."""
    note = b"x" * 1000  # a long second column: few numbers, many bytes
    body = b"".join(b"+336123%05d,%s\n" % (i, note) for i in range(5 * MiB // 1000 + 100))
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    sent: list[dict[str, Any]] = []
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = "/ringcast/v1/do-not-call/import"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"text/csv"),
            (b"x-api-key", account.key.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200 and pulled == len(chunks)
