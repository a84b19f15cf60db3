"""Outcome vocabulary: lossless round trips through both vendors' vocabularies."""

from __future__ import annotations

import pytest

from ringcast.core.outcomes import (
    FROM_SARVAM,
    FROM_VOLUBILE,
    SARVAM_RETRY_CONDITION,
    SARVAM_STATUS,
    VOLUBILE_STATUS,
    Outcome,
    outcomes_for_volubile_status,
)

#: The Volubile call statuses the issue names, written out independently.
VOLUBILE_CALL_STATUSES = {
    "COMPLETED", "NO_ANSWER", "VOICE_BOX", "UNREACHABLE", "FAILED",
    "TRANSFERRED", "REJECTED", "CANCELED", "IN_PROGRESS",
}  # fmt: skip


def test_every_outcome_has_a_value_in_each_vendor() -> None:
    """No outcome is missing from either mapping table."""
    assert set(VOLUBILE_STATUS) == set(Outcome)
    assert set(SARVAM_STATUS) == set(Outcome)


@pytest.mark.parametrize("status", sorted(VOLUBILE_CALL_STATUSES))
def test_volubile_round_trip(status: str) -> None:
    """Every Volubile status maps to an outcome that maps back to the same status."""
    assert VOLUBILE_STATUS[FROM_VOLUBILE[status]] == status


def test_volubile_vocabulary_is_exactly_the_documented_one() -> None:
    """ringcast never shows a Volubile client a status outside its enum."""
    assert set(VOLUBILE_STATUS.values()) == VOLUBILE_CALL_STATUSES


@pytest.mark.parametrize("pair", sorted(FROM_SARVAM, key=str))
def test_sarvam_round_trip(pair) -> None:
    """Every Sarvam status pair maps to an outcome that maps back to the same pair."""
    assert SARVAM_STATUS[FROM_SARVAM[pair]] == pair


def test_sarvam_values_stay_in_the_documented_enums() -> None:
    """Connectivity and completion values come from Sarvam's enums only."""
    for connectivity, completion in SARVAM_STATUS.values():
        assert connectivity in {None, "connected", "busy", "no_answer", "failed"}
        assert completion in {None, "completed", "partial", "failed"}
    assert set(FROM_SARVAM) == set(SARVAM_STATUS.values())


def test_retry_conditions_do_not_overlap_and_miss_only_connected_outcomes() -> None:
    """Each unconnected outcome but a declined call triggers exactly one Sarvam condition."""
    seen: dict[Outcome, str] = {}
    for name, outcomes in SARVAM_RETRY_CONDITION.items():
        for o in outcomes:
            assert o not in seen, f"{o} in {seen[o]} and {name}"
            seen[o] = name
    unconnected = {o for o in Outcome if not o.connected} - {Outcome.IN_PROGRESS, Outcome.CANCELLED}
    # a declined call reads busy, but no Sarvam condition retries it: the campaign must ask
    assert set(seen) == unconnected - {Outcome.REJECTED} | {Outcome.DROPPED}
    assert SARVAM_STATUS[Outcome.REJECTED] == ("busy", "failed")


def test_volubile_status_inverse_image() -> None:
    """NO_ANSWER covers a busy line too, so retryOn NO_ANSWER retries busy lines."""
    assert outcomes_for_volubile_status("NO_ANSWER") == {Outcome.NO_ANSWER, Outcome.BUSY}
