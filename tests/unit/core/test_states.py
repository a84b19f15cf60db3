"""Campaign status machine, tested exhaustively against its table and the seed's."""

from __future__ import annotations

import itertools

import pytest

from ringcast.core.errors import InvalidTransition
from ringcast.core.states import (
    TRANSITIONS,
    CampaignAction,
    CampaignStatus,
    advance,
    apply_action,
)

S, A = CampaignStatus, CampaignAction

#: Sarvam's seed table, written out independently of the implementation.
SEED_TABLE = {
    "pause": ({"scheduled", "active"}, "paused"),
    "resume": ({"paused"}, "scheduled"),
    "cancel": ({"scheduled", "active", "paused"}, "cancelled"),
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, A)))
def test_every_pair_follows_the_seed_table(status: CampaignStatus, action: CampaignAction) -> None:
    """Each (status, action) pair is allowed exactly when the seed says, with its result."""
    allowed_from, result = SEED_TABLE[action.value]
    if status.value in allowed_from:
        assert apply_action(status, action) == S(result)
    else:
        with pytest.raises(InvalidTransition) as err:
            apply_action(status, action)
        assert err.value.status == status.value
        assert err.value.action == action.value
        assert status.value in str(err.value)
        assert action.value in str(err.value)


def test_terminal_statuses_have_no_exit() -> None:
    """Nothing in the table leaves ended or cancelled."""
    assert not [k for k in TRANSITIONS if k[0] in (S.ENDED, S.CANCELLED)]


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("window_open", [True, False])
@pytest.mark.parametrize("past_end", [True, False])
def test_automatic_moves(status: CampaignStatus, window_open: bool, past_end: bool) -> None:
    """Scheduled and active follow the window; every live status ends past its end time."""
    got = advance(status, window_open=window_open, past_end=past_end)
    if status in (S.ENDED, S.CANCELLED):
        assert got == status
    elif past_end:
        assert got == S.ENDED
    elif status == S.PAUSED:
        assert got == S.PAUSED
    else:
        assert got == (S.ACTIVE if window_open else S.SCHEDULED)
