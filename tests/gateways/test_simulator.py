"""The simulator's calls carry the evidence a real provider gives: who picked up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ringcast.clock import VirtualClock
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import DialRequest
from ringcast.gateways.simulator import OutcomeModel, SimulatorGateway

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mix", "outcome", "answered_by"),
    [
        ("answered=1", Outcome.COMPLETED, "human"),
        ("partial=1", Outcome.PARTIAL, "human"),
        ("voicemail=1", Outcome.VOICEMAIL, "machine"),
        ("no_answer=1", Outcome.NO_ANSWER, None),
        ("busy=1", Outcome.BUSY, None),
        ("failed=1", Outcome.FAILED, None),
    ],
)
def test_a_simulated_call_says_who_picked_up(
    mix: str, outcome: Outcome, answered_by: str | None
) -> None:
    """A simulated call that connected was answered by a human, a voicemail by a machine,
    and a call nobody picked up carries no answerer, in the forecast's draw and in what
    the simulator gateway reports alike."""
    model = OutcomeModel.parse(mix)
    drawn = model.call("attempt-1", T0)
    reported: list[CallResult] = []

    async def report(result: CallResult) -> None:
        reported.append(result)

    async def dial() -> None:
        gateway = SimulatorGateway(model, VirtualClock(T0), report)
        await gateway.place_call(DialRequest("attempt-1", "+33612345678", None, None, "c", "a", 1))
        await gateway.drain()

    asyncio.run(dial())
    assert (drawn.outcome, drawn.answered_by) == (outcome, answered_by)
    assert reported == [drawn]
