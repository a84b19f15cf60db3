"""The one JSON decoding step every body ringcast is sent goes through.

Python's ``json`` accepts more than JSON, and more than the rest of ringcast can hold:

* ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON; they would reach columns and answers
  that cannot render them);
* lone UTF-16 surrogates written as escapes (``"\\ud800"``): a ``str`` that cannot be
  encoded to UTF-8, so the database, the log and the error answer all fail on it;
* NUL characters (``"\\u0000"``), which PostgreSQL's text refuses;
* nesting deep enough to exhaust the interpreter's recursion.

``loads`` refuses each of these with ``JsonRefused``, whose ``reason`` is safe to show a
client. What is accepted is plain JSON text that every store and every answer can hold.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any body a surface documents (contexts, metadata, transcripts nest a few
#: levels); far below what would exhaust recursion while decoding or validating.
MAX_DEPTH = 32

_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff]")


class JsonRefused(ValueError):
    """The bytes are not JSON ringcast accepts; ``reason`` says why, for the client."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _no_constants(token: str) -> Any:
    raise JsonRefused(f"{token} is not a JSON number")


def loads(raw: bytes | str, *, non_finite: bool = False) -> Any:
    """The JSON value in ``raw``, or ``JsonRefused``.

    ``non_finite`` decodes NaN and Infinity to floats instead, for a caller that refuses
    them field by field (a runtime's report still ends its call when its duration is NaN).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=float if non_finite else _no_constants)
    except JsonRefused:
        raise
    except json.JSONDecodeError as exc:
        raise JsonRefused(
            f"malformed JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
        raise JsonRefused(f"malformed JSON: {str(exc)[:100]}") from None
    check(value)
    return value


def check(value: Any) -> None:
    """Refuse a decoded value nested too deep or holding text no store can keep.

    Iterative, so the check itself cannot run out of stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise JsonRefused(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_text(key)
                    pending.append((inner, depth + 1))
            else:
                pending.extend((inner, depth + 1) for inner in item)


def _check_text(text: str) -> None:
    found = _UNSAFE_TEXT.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise JsonRefused("text may not contain NUL characters (\\u0000)")
    raise JsonRefused(
        f"text holds a lone UTF-16 surrogate (\\u{ord(found.group()):04x}), which is not Unicode"
    )


def unsafe_text_reason(text: str) -> str | None:
    """Why ``text`` (a path or query value) cannot be stored, or None when it can."""
    try:
        _check_text(text)
    except JsonRefused as exc:
        return exc.reason
    return None
