"""Recording calls' ends: the one path every end takes, whoever reports it.

A call ends when its gateway says so: the simulator on the dispatcher's loop, an agent
runtime through the server's callback route, or reconciliation when nobody said. Each
end runs the retry policy (``core.step.finisher``) and is written with its contact's next
state by ``store.end_attempts``.

Ends are written together (group commit): one transaction holds every end that arrived
while the previous one was being written, at most ``per_write`` of them, so the write
rate follows the database, not the call rate. A batch that fails for another reason
than the database being away is written again one end at a time, so that one bad end
does not keep the others from being recorded. Each end recorded is counted once in the
metrics; one already recorded (a repeated report) is not counted again.

An end that fails alone, for another reason than the database being away (the retry
policy raised, a reported value the database refuses), is recorded at once in a form that
cannot fail the same way: ``internal_error``, at the moment it was handed in, without
the report's details and without a retry (``core.step.finish_without_retry``), its
``failure_reason`` saying what was reported and why it could not be recorded. The
exception is logged with its traceback. The attempt never stays in a call waiting for
its lease to run out, and nobody retries an end that can never be written.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from ringcast import telemetry
from ringcast.core import step as tick
from ringcast.core.model import Attempt, Contact
from ringcast.core.outcomes import Outcome
from ringcast.core.step import CallResult, Finish
from ringcast.dispatch import storecalls
from ringcast.metrics import Metrics
from ringcast.ports import DispatchStore
from ringcast.telemetry import ATTEMPT_ID, END

log = structlog.get_logger("ringcast.dispatch")

T = TypeVar("T")

#: A recorded end: the contact's next state and the attempt as it ended.
Ended = tuple[Contact, Attempt]


class EndNotRecorded(Exception):
    """A call's end could not be written; why is logged where it failed."""


class CallEnds:
    """The group-committed sink for calls' ends, on the event loop that awaits them."""

    def __init__(
        self,
        store: DispatchStore,
        metrics: Metrics,
        *,
        per_write: int = 1000,
        offload: bool = False,
        wait_out_outages: bool = True,
        max_backoff: timedelta = timedelta(seconds=10),
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """
        Args:
            per_write: most ends one transaction writes.
            offload: write on a worker thread, so the event loop goes on meanwhile.
            wait_out_outages: while the database is unreachable, retry with backoff up
                to ``max_backoff`` (the dispatcher); otherwise the ends waiting fail
                (a callback route, whose caller will report again).
            now: the clock an end that could not be recorded as reported is stamped
                with (``Clock.now``); without it, the reported end time is kept.
        """
        self.store = store
        self.metrics = metrics
        self.per_write = per_write
        self.offload = offload
        self.wait_out_outages = wait_out_outages
        self.max_backoff = max_backoff
        self.now = now
        self._waiting: list[tuple[CallResult, asyncio.Future[Ended | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, result: CallResult) -> Ended | None:
        """Record a call's end and its contact's next state; returns once committed.

        Returns what was written, or None when this end was recorded before. Raises
        ``EndNotRecorded`` when it could not be written.
        """
        attributes = {ATTEMPT_ID: result.attempt_id, "ringcast.outcome": result.outcome.value}
        with telemetry.span(END, attributes):
            written: asyncio.Future[Ended | None] = asyncio.get_running_loop().create_future()
            self._waiting.append((result, written))
            if self._writer is None or self._writer.done():
                self._writer = asyncio.create_task(self._write())
            return await written

    async def drain(self) -> None:
        """Wait until every end handed in so far is written."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while self._waiting:
            batch = self._waiting[: self.per_write]
            del self._waiting[: len(batch)]
            results = [r for r, _ in batch]
            done: list[Ended | EndNotRecorded | None]
            try:
                done = list(await self._store_call(functools.partial(self._end, results)))
            except Exception as exc:
                if len(results) == 1 and not storecalls.is_outage(exc):
                    # that one end is what failed: writing it alone again would fail alike
                    log.exception("recording a call's end failed", attempt=results[0].attempt_id)
                    done = [await self._end_as_internal_error(results[0], exc)]
                else:
                    # Not the database being away (that is waited out, when it is): one
                    # bad end must not keep the others of its batch from being recorded.
                    log.exception("writing call ends together failed; writing them one by one")
                    done = [await self._end_alone(r) for r in results]
            for (_, written), ended in zip(batch, done, strict=True):
                if isinstance(ended, EndNotRecorded):
                    if not written.done():
                        written.set_exception(ended)
                    continue
                if ended is not None:
                    contact, attempt = ended
                    self.metrics.attempts.labels(attempt.outcome.value).inc()
                    log.info(
                        "call ended",
                        attempt=attempt.id,
                        outcome=attempt.outcome.value,
                        contact_state=contact.state.value,
                    )
                if not written.done():
                    written.set_result(ended)

    async def _end_alone(self, result: CallResult) -> Ended | EndNotRecorded | None:
        try:
            (ended,) = await self._store_call(functools.partial(self._end, [result]))
        except Exception as exc:
            log.exception("recording a call's end failed", attempt=result.attempt_id)
            if storecalls.is_outage(exc):
                return _not_recorded(result, exc)
            return await self._end_as_internal_error(result, exc)
        return ended

    async def _end_as_internal_error(
        self, result: CallResult, exc: Exception
    ) -> Ended | EndNotRecorded | None:
        """Record ``result``'s attempt as an internal error, the report and the retry
        policy left out, since one of them is what failed."""
        fallback = CallResult(
            result.attempt_id,
            Outcome.INTERNAL_ERROR,
            self.now() if self.now is not None else result.ended_at,
            gateway_call_id=result.gateway_call_id,
            failure_reason=(
                f"ringcast could not record this call's end as reported "
                f"(outcome {result.outcome.value}): {type(exc).__name__}"
            ),
        )
        try:
            (ended,) = await self._store_call(
                functools.partial(self._end, [fallback], tick.finisher_without_retry)
            )
        except Exception as again:
            log.exception(
                "recording a call's end as an internal error failed too", attempt=result.attempt_id
            )
            return _not_recorded(result, again)
        return ended

    def _end(
        self,
        results: Sequence[CallResult],
        finisher: Callable[[CallResult], Finish] = tick.finisher,
    ) -> list[Ended | None]:
        return self.store.end_attempts([(r, finisher(r)) for r in results])

    async def _store_call(self, work: Callable[[], T]) -> T:
        if self.wait_out_outages:
            return await storecalls.call_retrying(
                work, offload=self.offload, max_backoff=self.max_backoff
            )
        return await storecalls.call(work, offload=self.offload)


def _not_recorded(result: CallResult, cause: BaseException) -> EndNotRecorded:
    failed = EndNotRecorded(f"the end of attempt {result.attempt_id} was not recorded")
    failed.__cause__ = cause
    return failed
