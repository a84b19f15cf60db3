"""Structured logging: JSON lines in production, readable lines on a terminal.

One pipeline for every log line the process writes. structlog's own loggers and the
standard library's (uvicorn's server and access logs, Alembic's migrations, the SDKs')
end in one handler on the root logger whose ``ProcessorFormatter`` renders them alike:
level, UTC timestamp, logger name, and the traceback of any exception logged (as text
under ``exception`` in JSON).

The access log never carries a secret a client put in a query string: ``RedactQuery``
replaces the value of any parameter named like a credential (``api_key``, ``token``...)
and any value shaped like a ringcast key, before the line is formatted.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import structlog

#: query parameters whose values are credentials, compared in lower case without - or _
SECRET_PARAMS = frozenset(
    {
        "apikey",
        "xapikey",
        "key",
        "token",
        "accesstoken",
        "authorization",
        "auth",
        "secret",
        "password",
        "signature",
        "sig",
    }
)
#: a ringcast API key (``security.generate_key``) wherever it appears
KEY_SHAPE = re.compile(r"rc_[0-9a-f]{8}_[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def redact_target(target: str) -> str:
    """A request target (path and query) with every credential in its query replaced."""
    parts = urlsplit(target)
    if not parts.query:
        return KEY_SHAPE.sub(REDACTED, target)
    pairs = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        secret = name.lower().replace("-", "").replace("_", "") in SECRET_PARAMS
        shown = REDACTED if secret or KEY_SHAPE.search(value) else value
        pairs.append(f"{quote(name, safe='')}={quote(shown, safe='[]')}")
    return KEY_SHAPE.sub(REDACTED, parts.path) + "?" + "&".join(pairs)


class RedactQuery(logging.Filter):
    """Redacts the request target of uvicorn's access log records (its third argument:
    ``client, method, target, http_version, status``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2]), *args[3:])
        return True


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is written (a test's capture, a
    replaced stream), not to the one it was when logging was configured."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _add_logger_name(logger: Any, _method: str, event_dict: Any) -> Any:
    """The logger's name under ``logger`` (a foreign record's own, else the logger's)."""
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


def configure(level: str = "info", json: bool | None = None) -> None:
    if json is None:
        json = not sys.stderr.isatty()
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        # The traceback as text under "exception"; the console renderer draws its own.
        rendering += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering.append(structlog.dev.ConsoleRenderer())
    handler = _Stderr(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=rendering)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # uvicorn's and Alembic's loggers write through the root handler, nowhere else
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())

    def to_the_root_handler(logger: Any, method: str, event_dict: Any) -> Any:
        # A logger made on purpose outside logging (``crypto``'s one notice on stderr,
        # a PrintLogger) is rendered here; every other goes to the root handler.
        if isinstance(logger, logging.Logger):
            return structlog.stdlib.ProcessorFormatter.wrap_for_formatter(
                logger, method, event_dict
            )
        return rendering[-1](logger, method, event_dict)

    structlog.configure(
        processors=[*shared, to_the_root_handler],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
