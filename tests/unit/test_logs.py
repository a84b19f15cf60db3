"""One structured log pipeline: tracebacks in JSON, uvicorn and Alembic through it, and
no credential from a query string in the access log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from ringcast import logs
from ringcast.logs import REDACTED, redact_target

KEY = "rc_3f9a2b7c_" + "A1b2" * 10


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The JSON pipeline, on the test's captured stderr; the logging set-up restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("info", json=True)
    try:
        yield capsys
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").filters.clear()
        structlog.reset_defaults()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    err = capsys.readouterr().err
    assert "Logging error" not in err, err
    return [json.loads(line) for line in err.splitlines() if line]


def test_every_logged_exception_carries_its_traceback(json_logs) -> None:
    """An exception logged through structlog or through the standard library comes out as
    one JSON line whose ``exception`` holds the traceback."""
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        structlog.get_logger("ringcast.test").exception("it broke", attempt="a1")
        logging.getLogger("ringcast.stdlib").exception("it broke too")
        structlog.get_logger("ringcast.test").error("with the error", exc_info=exc)
    lines = _lines(json_logs)
    assert len(lines) == 3
    for line in lines:
        assert "Traceback" in str(line["exception"]) and "ZeroDivisionError" in str(
            line["exception"]
        )
        assert line["level"] == "error" and "timestamp" in line
    assert lines[0]["attempt"] == "a1" and lines[0]["logger"] == "ringcast.test"


def test_uvicorn_and_alembic_write_through_the_same_logger(json_logs) -> None:
    """uvicorn's server and access logs and Alembic's migration log are JSON lines with
    their logger's name, like ringcast's own."""
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/healthz", "1.1", 200
    )
    logging.getLogger("alembic.runtime.migration").info("Running upgrade 0010 -> 0011")
    lines = _lines(json_logs)
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("uvicorn.error", "Started server process [42]"),
        ("uvicorn.access", '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'),
        ("alembic.runtime.migration", "Running upgrade 0010 -> 0011"),
    ]


def test_a_key_in_a_query_string_never_reaches_the_access_log(json_logs) -> None:
    """A key sent as ``?api_key=``, ``?token=``, under any other name, or in the path, is
    replaced in the access log line; the rest of the target stays readable."""
    for target in (
        f"/v1/agents?api_key={KEY}&limit=5",
        f"/v1/agents?X-Api-Key={KEY}",
        f"/v1/agents?q={KEY}",
        "/v1/agents?token=abc123",
        f"/v1/{KEY}",
    ):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", target, "1.1", 401
        )
    text = json.dumps(_lines(json_logs))
    assert KEY not in text and "abc123" not in text
    assert text.count(REDACTED) == 5 and "limit=5" in text


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/v1/calls?from=2026-01-01", "/v1/calls?from=2026-01-01"),
        ("/x?API_KEY=s3cret&a=1", f"/x?API_KEY={REDACTED}&a=1"),
        ("/x?password=p&signature=s", f"/x?password={REDACTED}&signature={REDACTED}"),
        ("/x", "/x"),
    ],
)
def test_redaction_keeps_what_is_not_a_secret(target: str, shown: str) -> None:
    """Only credentials are replaced."""
    assert redact_target(target) == shown
