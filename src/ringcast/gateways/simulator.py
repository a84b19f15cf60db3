"""The simulator gateway: a seeded mix of outcomes and call durations, on the injected clock.

``OutcomeModel`` is pure: each attempt's outcome and durations come from a stable hash of
(seed, attempt id), so the forecast can draw the very same calls without a gateway. Its
calls carry the evidence a real provider gives: ``answered_by`` is ``human`` for a call
that connected and ``machine`` for a voicemail, so forecasts count machines as reports do.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ringcast.clock import Clock
from ringcast.core.jitter import stable_uniform
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult
from ringcast.gateways.base import Accepted, CallGateway, DialRequest, Report

DEFAULT_MIX = "answered=0.55,no_answer=0.25,busy=0.1,voicemail=0.05,failed=0.05"
#: The longest mean durations a simulator may be given: a provider's own limits on how
#: long a call may ring (Twilio's 600 s) and last (its 4 h). Far beyond them a drawn
#: duration is not a moment at all: a mean talk time of 1e300 s failed every dial.
MAX_MEAN_RING = timedelta(minutes=10)
MAX_MEAN_TALK = timedelta(hours=4)
#: Seeds are hashed as text; bounded so that a setting stays a number every store keeps.
MAX_SEED = 2**63 - 1
_ALIASES = {"answered": Outcome.COMPLETED}


@dataclass(frozen=True)
class Draw:
    outcome: Outcome
    ring: timedelta  #: until answered, or until the network gave up
    talk: timedelta | None  #: how long a connected call lasted


_STANDARD_NORMAL = statistics.NormalDist()
_LOGNORMAL_SIGMA = 0.5


def _exponential(mean: float, u: float) -> float:
    return -math.log(1 - u) * mean


def _lognormal(mean: float, u: float) -> float:
    # sigma 0.5: most calls within a factor of two or three of the mean, a long tail
    z = _STANDARD_NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
    return mean * math.exp(_LOGNORMAL_SIGMA * z - _LOGNORMAL_SIGMA**2 / 2)


#: How ring and talk times spread around their means: each maps (mean, u in [0, 1)) to a
#: duration by its inverse distribution function, so one stable draw gives one duration.
DURATION_LAWS: dict[str, Callable[[float, float], float]] = {
    "exponential": _exponential,
    "lognormal": _lognormal,
    "uniform": lambda mean, u: 2 * mean * u,  # even between 0 and twice the mean
    "fixed": lambda mean, _u: mean,
}


@dataclass(frozen=True)
class OutcomeModel:
    mix: tuple[tuple[Outcome, float], ...]  #: outcome and probability, summing to 1
    mean_talk: timedelta = timedelta(seconds=45)
    mean_ring: timedelta = timedelta(seconds=20)
    seed: int = 0
    durations: str = "exponential"  #: one of ``DURATION_LAWS``

    def __post_init__(self) -> None:
        for name, mean, most in (
            ("mean_talk", self.mean_talk, MAX_MEAN_TALK),
            ("mean_ring", self.mean_ring, MAX_MEAN_RING),
        ):
            if not timedelta(0) < mean <= most:
                raise ValueError(
                    f"{name} must be more than 0 and at most {most.total_seconds():g} s"
                )
        if not -MAX_SEED <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be between {-MAX_SEED} and {MAX_SEED}")
        if self.durations not in DURATION_LAWS:
            raise ValueError(
                f"unknown duration law {self.durations!r}: use one of {', '.join(DURATION_LAWS)}"
            )

    @classmethod
    def parse(cls, text: str, **kw: object) -> OutcomeModel:
        """``answered=0.55,no_answer=0.25,...``: probabilities by outcome, normalised."""
        pairs: list[tuple[Outcome, float]] = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            key = name.strip().lower()
            try:
                outcome = _ALIASES.get(key) or Outcome(key)
                weight = float(value)
            except ValueError:
                raise ValueError(f"bad outcome weight {part!r}: use name=probability") from None
            if outcome is Outcome.IN_PROGRESS or not 0 <= weight < math.inf:
                raise ValueError(f"bad outcome weight {part!r}")
            pairs.append((outcome, weight))
        total = sum(w for _, w in pairs)
        if not 0 < total < math.inf:
            raise ValueError("the outcome weights must add up to more than 0")
        return cls(tuple((o, w / total) for o, w in pairs), **kw)  # type: ignore[arg-type]

    def draw(self, attempt_id: str) -> Draw:
        u = stable_uniform(self.seed, attempt_id, "outcome")
        outcome = self.mix[-1][0]
        for candidate, p in self.mix:
            if u < p:
                outcome = candidate
                break
            u -= p
        law = DURATION_LAWS[self.durations]
        ring = timedelta(
            seconds=law(
                self.mean_ring.total_seconds(), stable_uniform(self.seed, attempt_id, "ring")
            )
        )
        talk = (
            timedelta(
                seconds=law(
                    self.mean_talk.total_seconds(), stable_uniform(self.seed, attempt_id, "talk")
                )
            )
            if outcome.connected
            else None
        )
        return Draw(outcome, ring, talk)

    def call(self, attempt_id: str, started: datetime) -> CallResult:
        """How the call for ``attempt_id`` dialled at ``started`` ends: the simulator
        gateway reports exactly this, and the forecast records it without a gateway."""
        d = self.draw(attempt_id)
        answered_at = started + d.ring if d.talk is not None else None
        return CallResult(
            attempt_id=attempt_id,
            outcome=d.outcome,
            ended_at=started + d.ring + (d.talk or timedelta(0)),
            answered_at=answered_at,
            duration=d.talk,
            gateway_call_id=f"sim-{attempt_id}",
            failure_reason="simulated failure" if d.outcome is Outcome.FAILED else None,
            answered_by=simulated_answerer(d.outcome),
        )


def simulated_answerer(outcome: Outcome) -> str | None:
    """Who picked up a simulated call, as a provider's answering-machine detection would
    say: a person for a call that connected, a machine for a voicemail, nobody else."""
    if outcome is Outcome.VOICEMAIL:
        return "machine"
    return "human" if outcome.connected else None


class SimulatorGateway(CallGateway):
    """Answers every dial and, after the drawn durations on the clock, reports the outcome."""

    supports_idempotency = True  # a repeated attempt id is answered from memory

    def __init__(
        self, model: OutcomeModel, clock: Clock, report: Report, dial_log: str | None = None
    ) -> None:
        self.model = model
        self.clock = clock
        self.report = report
        self._calls: dict[str, asyncio.Task[None]] = {}
        #: every dial appended to a file outside the process: the evidence that crash
        #: tests count duplicates in, since the process itself may be killed. A write the
        #: kernel took survives the process being killed; no fsync (which would hold the
        #: event loop, and every dial slot after this one, for a disk flush per dial)
        self.dial_log = dial_log

    async def place_call(self, request: DialRequest) -> Accepted:
        call_id = f"sim-{request.attempt_id}"
        if self.dial_log is not None:
            self._log(f"{request.attempt_id} {request.to} {self.clock.now().isoformat()}\n")
        if request.attempt_id not in self._calls:
            # Drawn here, not in the call's task: a draw that raises (durations no
            # calendar holds) fails the dial, which ends the attempt, instead of killing
            # a task nobody awaits and leaving the attempt in a call.
            result = self.model.call(request.attempt_id, self.clock.now())
            assert result.gateway_call_id == call_id
            task = asyncio.create_task(self._run(result))
            self._calls[request.attempt_id] = task
            task.add_done_callback(functools.partial(self._forget, request.attempt_id))
        return Accepted(call_id)

    async def _run(self, result: CallResult) -> None:
        await self.clock.sleep_until(result.ended_at)
        await self.report(result)

    def _log(self, line: str) -> None:
        assert self.dial_log is not None
        fd = os.open(self.dial_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())  # one small O_APPEND write: atomic across processes
        finally:
            os.close(fd)

    def _forget(self, attempt_id: str, _task: asyncio.Task[None]) -> None:
        self._calls.pop(attempt_id, None)

    async def drain(self) -> None:
        """Wait for every call in progress to report."""
        while self._calls:
            await asyncio.gather(*list(self._calls.values()), return_exceptions=True)
