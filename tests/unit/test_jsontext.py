"""The one strict JSON decoding step: what it refuses, and that it keeps everything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringcast import jsontext


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"-Infinity", "-Infinity is not a JSON number"),
        (b'"\\ud800"', "lone UTF-16 surrogate (\\ud800)"),
        (b'{"\\udfff": 1}', "lone UTF-16 surrogate (\\udfff)"),
        (b'["a\\u0000b"]', "NUL"),
        (b'{"a\\u0000": 1}', "NUL"),
        (b"[" * 33 + b"]" * 33, "nested deeper than 32 levels"),
        (b"[" * 200_000 + b"]" * 200_000, "nested deeper than 32 levels"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "malformed JSON"),
        (b"1" * 5_000, "malformed JSON"),
    ],
)
def test_refuses_what_no_store_can_hold(raw: bytes, reason: str) -> None:
    """Each class is refused with a reason a client can read."""
    with pytest.raises(jsontext.JsonRefused) as refused:
        jsontext.loads(raw)
    assert reason in refused.value.reason


def test_keeps_surrogate_pairs_and_the_deepest_allowed_nesting() -> None:
    """An escaped surrogate pair is one character, not a lone surrogate; 32 levels pass."""
    assert jsontext.loads(b'"\\ud83d\\ude00"') == "\U0001f600"
    assert jsontext.loads(b"[" * 32 + b"]" * 32) is not None


def test_non_finite_numbers_decode_when_asked() -> None:
    """A caller that refuses numbers field by field gets NaN and Infinity as floats."""
    value = jsontext.loads(b'{"d": NaN, "e": Infinity}', non_finite=True)
    assert value["e"] == float("inf") and value["d"] != value["d"]


safe_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(safe_text, inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_every_plain_json_value_decodes_to_itself(value: object) -> None:
    """Plain JSON (finite numbers, text without NUL or lone surrogates) is kept as it is."""
    assert jsontext.loads(json.dumps(value).encode()) == value
