"""The real-time dispatcher: plan due campaigns, dial at each pacing slot, record outcomes.

Each pass asks the store for the campaigns whose wake-up time has come, and runs one
planning transaction per campaign, which reads the clock once (``tick.decide`` inside
``store.run_tick``). The attempts are committed before the gateway hears of them; each
dial then waits for its own pacing slot. Outcomes come back through ``report``, which runs
the retry policy in one transaction.

On SQLite only the holder of the dispatcher lease works, since SQLite has no row locks to
share campaigns with. A database that goes away is retried with backoff; nothing needs a
restart.

An unexpected error is about one thing, and stays with it. A dial that raises anything
but a ``GatewayError`` (a connection's secret that cannot be decoded, a simulator told to
talk for 1e300 seconds) ends its attempt at once as ``internal_error``, with the error's
type as its ``failure_reason`` and its traceback in the log, instead of leaving it
``dialing`` until its call lease runs out. An end that cannot be written is recorded as an
internal error by ``CallEnds``. An attempt the reconciler still cannot end, and a campaign
whose planning raises, wait their own backoff (``Holds``) while every other attempt and
campaign goes on; the loop itself survives any error and backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

import structlog

from ringcast import signing, telemetry
from ringcast.clock import Clock
from ringcast.core import step as tick
from ringcast.core.compliance import PREDIAL_REFUSED
from ringcast.core.errors import Conflict
from ringcast.core.outcomes import Outcome
from ringcast.core.planner import CampaignSnapshot
from ringcast.core.step import CallResult, Dial, TickWrites
from ringcast.dispatch import storecalls
from ringcast.dispatch.ends import CallEnds, EndNotRecorded
from ringcast.dispatch.holds import Holds
from ringcast.dispatch.predial import PredialClient
from ringcast.gateways.base import (
    CallGateway,
    DialEnded,
    DialRequest,
    GatewayError,
    GatewayRejected,
)
from ringcast.metrics import Metrics
from ringcast.ports import DispatchStore
from ringcast.telemetry import ATTEMPT_ID, ATTEMPT_IDS, CAMPAIGN_ID, DIAL, PLAN

log = structlog.get_logger("ringcast.dispatch")

#: The key the webhook sender's failures are held back under.
DELIVERIES = "webhook deliveries"

T = TypeVar("T")
#: The store a dispatcher works on: any ``DispatchStore``, kept as its own type so that
#: a caller who gave a richer one (the forecast's driver) may use the rest of it.
StoreT = TypeVar("StoreT", bound=DispatchStore)


class DueWebhooks(Protocol):
    """Sends the webhook deliveries that are due (``webhooks.deliver.Deliverer``)."""

    async def deliver_due(self, limit: int = ...) -> int:
        """Send up to ``limit`` due deliveries; returns how many were tried."""
        ...


@dataclass(frozen=True)
class DispatchSettings:
    horizon: timedelta = timedelta(milliseconds=500)  #: how far ahead one pass grants dials
    batch: int = 500  #: contacts one planning transaction may take
    campaigns_per_pass: int = 100
    idle: timedelta = timedelta(milliseconds=200)  #: longest sleep between passes
    lease_ttl: timedelta = timedelta(seconds=10)
    #: how long a dialled attempt may wait for its outcome before it is reconciled
    call_lease: timedelta = timedelta(hours=2)
    max_backoff: timedelta = timedelta(seconds=10)
    #: how soon to try again a campaign whose row was locked when its turn came
    relock: timedelta = timedelta(milliseconds=10)
    #: most call ends written in one transaction: ends that arrive while one write is under
    #: way wait for the next, so the write rate follows the database, not the call rate
    ends_per_write: int = 1000
    #: run the store's transactions on worker threads, so that dial slots are kept while
    #: the database works. Off under an ``EventClock``, where the order of writes must
    #: not depend on how threads are scheduled.
    offload: bool = False
    #: first and longest wait before trying again an attempt the reconciler could not end,
    #: or a campaign whose planning raised: each failure doubles it
    hold_first: timedelta = timedelta(seconds=1)
    hold_most: timedelta = timedelta(hours=1)
    #: most a plan's first dial slot may lie ahead of the clock (``Dispatcher.lead``):
    #: 0 plans from the clock's own moment, as a forecast on virtual time must
    lead_most: timedelta = timedelta(0)


class Dispatcher(Generic[StoreT]):
    def __init__(
        self,
        store: StoreT,
        clock: Clock,
        gateway: CallGateway | None = None,
        settings: DispatchSettings = DispatchSettings(),
        *,
        single_dispatcher: bool = False,
        name: str | None = None,
        metrics: Metrics | None = None,
        deliverer: DueWebhooks | None = None,
        predial: PredialClient | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.gateway = gateway
        self.settings = settings
        self.single_dispatcher = single_dispatcher
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._dials: set[asyncio.Task[None]] = set()
        self.metrics = metrics or Metrics()
        self.deliverer = deliverer
        self.predial = predial or PredialClient()
        self.ends = CallEnds(
            store,
            self.metrics,
            per_write=settings.ends_per_write,
            offload=settings.offload,
            max_backoff=settings.max_backoff,
            now=clock.now,
        )
        #: attempts the reconciler could not end, and campaigns whose planning raised
        self.held_attempts = Holds(settings.hold_first, settings.hold_most)
        self.held_campaigns = Holds(settings.hold_first, settings.hold_most)
        self._held_work = Holds(settings.hold_first, settings.hold_most)
        self._secrets: dict[str, str] = {}  #: organizations' webhook secrets, once read
        #: how far ahead of the clock plans start their slots (see ``_decide``): the most
        #: until a first plan's commit is timed
        self.lead = settings.lead_most
        self._decided_at: datetime | None = None

    # --- outcomes -------------------------------------------------------------------------
    async def report(self, result: CallResult) -> None:
        """A call ended: run the retry policy and record the contact's next state.

        Returns once it is committed, written together with the other ends that arrived
        meanwhile (``CallEnds``). An end that could not be written is logged there; its
        attempt is reconciled when its call lease runs out.
        """
        with contextlib.suppress(EndNotRecorded):
            await self.ends.record(result)

    # --- planning -------------------------------------------------------------------------
    async def step(self) -> datetime | None:
        """One pass over the campaigns that are due; returns when to look again."""
        now = self.clock.now()
        if self.single_dispatcher and not await self._db(
            lambda: self.store.acquire_lease("dispatcher", self.name, now, self.settings.lease_ttl)
        ):
            return now + self.settings.lease_ttl / 2
        await self.reconcile(now)
        await self._deliver(now)
        wake: datetime | None = None
        due = await self._db(
            lambda: self.store.campaigns_to_plan(now, self.settings.campaigns_per_pass)
        )
        for campaign_id in due:
            if self.held_campaigns.held(campaign_id, now):
                continue
            try:
                with telemetry.span(PLAN, {CAMPAIGN_ID: campaign_id}) as span:
                    writes = await self._db(
                        functools.partial(
                            self.store.run_tick,
                            campaign_id,
                            now,
                            self.settings.horizon,
                            self.settings.batch,
                            self._decide,
                            self.settings.call_lease,
                        )
                    )
                    span.set_attribute(
                        ATTEMPT_IDS, [d.attempt.id for d in writes.dials] if writes else []
                    )
                    self._learn_lead(writes)
            except Conflict as exc:
                # Another worker put one of these numbers in a call between our check and our
                # insert; the unique index refused the whole plan. Plan again next pass.
                log.info("plan refused, replanning", campaign=campaign_id, reason=str(exc)[:200])
                continue
            except Exception as exc:
                if storecalls.is_outage(exc):
                    raise  # the database is away: ``run`` waits it out for every campaign
                wait = self.held_campaigns.failed(campaign_id, now)
                log.exception(
                    "planning a campaign failed; trying it again later",
                    campaign=campaign_id,
                    retry_in_s=wait.total_seconds(),
                )
                continue
            self.held_campaigns.succeeded(campaign_id)
            if writes is None:
                # Its row was locked: another worker is planning it, or a batch of call
                # ends is freeing its places. Look again in a moment, not after an idle.
                soon = now + self.settings.relock
                wake = soon if wake is None else min(wake, soon)
                continue
            for d in writes.dials:
                self._start_dial(d, writes)
            if writes.status is not None:
                log.info(
                    "campaign status",
                    campaign=campaign_id,
                    status=writes.status.value,
                    reasons=list(writes.reasons),
                )
            if writes.next_wake_at is not None:
                wake = writes.next_wake_at if wake is None else min(wake, writes.next_wake_at)
        return wake

    async def _deliver(self, now: datetime) -> None:
        """Send the webhooks that are due; a failure of the sender is held back (``Holds``)
        rather than stopping the pass, so that calls are planned whatever it does."""
        if self.deliverer is None or self._held_work.held(DELIVERIES, now):
            return
        try:
            await self.deliverer.deliver_due()
        except Exception as exc:
            if storecalls.is_outage(exc):
                raise
            wait = self._held_work.failed(DELIVERIES, now)
            log.exception("delivering webhooks failed", retry_in_s=wait.total_seconds())
        else:
            self._held_work.succeeded(DELIVERIES)

    async def reconcile(self, now: datetime) -> None:
        """End attempts whose outcome never came back (their worker died) as internal errors.

        A gateway that can say how the call ended (``call_state``, the http gateway) is
        asked first. Otherwise (the simulator cannot know of a call another process placed)
        the attempt is recorded as ``internal_error`` and the retry policy decides; it is
        never dialled again as itself (a retry is a new attempt with its own id).

        An attempt whose end still cannot be recorded is held back (``held_attempts``,
        a doubling backoff) rather than tried on every pass; the others go on.
        """
        limit = self.settings.batch + len(self.held_attempts)  # held ones take no turn
        expired = await self._db(lambda: self.store.expired_attempts(now, limit))
        if len(expired) < limit:  # every expired attempt is listed: the rest have ended
            self.held_attempts.forget_all_but(set(expired))
        for attempt_id in expired:
            if self.held_attempts.held(attempt_id, now):
                continue
            log.warning("reconciling an attempt with no outcome", attempt=attempt_id)
            lost = CallResult(
                attempt_id,
                Outcome.INTERNAL_ERROR,
                now,
                failure_reason="no outcome reported before the call lease expired",
            )
            try:
                await self.ends.record(await self._known_end(attempt_id, now) or lost)
            except Exception as exc:
                if storecalls.is_outage(exc):
                    raise
                wait = self.held_attempts.failed(attempt_id, now)
                log.error(
                    "an expired attempt could not be ended; trying it again later",
                    attempt=attempt_id,
                    failures=self.held_attempts.failures(attempt_id),
                    retry_in_s=wait.total_seconds(),
                    # ``CallEnds`` logged the tracebacks of an end it could not write
                    exc_info=None if isinstance(exc, EndNotRecorded) else exc,
                )
            else:
                self.held_attempts.succeeded(attempt_id)

    async def _known_end(self, attempt_id: str, now: datetime) -> CallResult | None:
        """How the gateway says the attempt's call ended; None when it does not know, or
        asking it failed (logged: the attempt is then ended as lost)."""
        if self.gateway is None:
            return None
        try:
            return await self.gateway.call_state(attempt_id, now)
        except Exception:
            log.exception("asking the gateway how a call ended failed", attempt=attempt_id)
            return None

    def _decide(self, snapshot: CampaignSnapshot, variables: Sequence[str]) -> TickWrites:
        # The clock is read here, once the campaign's row is locked and its counters read:
        # a call whose end those counters already reflect has ended before this ``now``,
        # so a dial slot never starts before the call it replaces has finished.
        #
        # The plan is made for ``now + lead``: its dials cannot go out before its
        # transaction commits, so a plan made for the clock's own moment would have its
        # first slots pass while it is written, and those dials would all be late (at a
        # paced rate, the first ones of every plan). Everything else follows the same
        # moment (windows are checked at each slot, which is when the call is placed).
        self._decided_at = self.clock.now()
        return tick.decide(snapshot, self._decided_at + self.lead, self.settings.horizon, variables)

    def _learn_lead(self, writes: TickWrites | None) -> None:
        """Take the time the last plan took to commit as the next plans' lead (a slowly
        falling peak, so that one quick commit does not undo it), up to ``lead_most``."""
        decided_at, self._decided_at = self._decided_at, None
        if writes is None or decided_at is None or not self.settings.lead_most:
            return
        took = self.clock.now() - decided_at
        self.lead = min(self.settings.lead_most, max(took, self.lead * 0.9))

    def _start_dial(self, d: Dial, writes: TickWrites) -> None:
        task = asyncio.create_task(self._dial(d, writes))
        self._dials.add(task)
        task.add_done_callback(self._dials.discard)

    async def _dial(self, d: Dial, writes: TickWrites) -> None:
        """Dial ``d`` at its slot; whatever goes wrong ends its attempt at once."""
        try:
            with telemetry.span(
                DIAL, {ATTEMPT_ID: d.attempt.id, CAMPAIGN_ID: d.attempt.campaign_id}
            ):
                await self._place(d, writes)
        except Exception as exc:
            # Not the gateway's answer (``_place`` records those): a bug, or settings that
            # cannot work (an undecodable secret, an impossible duration). The attempt ends
            # now, with a reason its owner can see; the traceback is for the operator.
            log.exception("dialling an attempt failed unexpectedly", attempt=d.attempt.id)
            await self.report(
                CallResult(
                    d.attempt.id,
                    Outcome.INTERNAL_ERROR,
                    self.clock.now(),
                    failure_reason=f"ringcast could not place the call: {type(exc).__name__}",
                )
            )

    async def _place(self, d: Dial, writes: TickWrites) -> None:
        await self.clock.sleep_until(d.dial_at)
        if d.predial is not None and not await self._eligible(d, writes.org_id):
            return
        self.metrics.dial_lateness.observe(max(0.0, (self.clock.now() - d.dial_at).total_seconds()))
        if self.gateway is None:
            return
        request = DialRequest(
            attempt_id=d.attempt.id,
            to=d.contact.phone,
            caller=d.attempt.caller_number,
            connection_id=d.attempt.connection_id,
            campaign_id=d.attempt.campaign_id,
            agent_id=writes.agent_id,
            agent_version=writes.agent_version,
            variables=d.attempt.variables,
            org_id=writes.org_id,
            voicemail=writes.voicemail,
        )
        try:
            await self.gateway.place_call(request)
        except DialEnded as exc:
            # The provider dialled and the call ended at once (busy, no answer): that end
            # is the attempt's, with the provider's evidence.
            await self.report(exc.result)
        except GatewayError as exc:
            # Nothing was placed: the attempt ends now, and the retry policy decides.
            outcome = Outcome.FAILED if isinstance(exc, GatewayRejected) else Outcome.PROVIDER_ERROR
            await self.report(
                CallResult(d.attempt.id, outcome, self.clock.now(), failure_reason=str(exc)[:500])
            )

    async def _signing_secret(self, org_id: str) -> str:
        """The organization's webhook secret: read (or made) once, since it never changes,
        rather than in a transaction before every hooked dial."""
        secret = self._secrets.get(org_id)
        if secret is None:
            secret = self._secrets[org_id] = await self._retrying(
                lambda: self.store.signing_secret(org_id, signing.new_secret)
            )
        return secret

    async def _eligible(self, d: Dial, org_id: str) -> bool:
        """Ask the campaign's pre-dial hook; a "not now" withdraws the undialled attempt."""
        assert d.predial is not None
        answer = await self.predial.ask(d.predial, d, await self._signing_secret(org_id))
        if answer.eligible:
            return True
        until = self.clock.now() + d.predial.retry_after
        log.info("pre-dial hook said not now", attempt=d.attempt.id, detail=answer.detail)
        await self._retrying(
            lambda: self.store.withdraw_attempt(d.attempt.id, until, PREDIAL_REFUSED)
        )
        return False

    # --- running --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until ``stop`` is set; database outages are waited out."""
        backoff = timedelta(milliseconds=200)
        log.info("dispatcher started", name=self.name)
        while not stop.is_set():
            self.metrics.heartbeat.beat()  # a worker's /healthz: the loop goes round
            try:
                next_at = await self.step()
                backoff = timedelta(milliseconds=200)
            except Exception as exc:
                if storecalls.is_outage(exc):
                    log.warning(
                        "database unavailable; retrying",
                        error=str(exc).splitlines()[0],
                        retry_in_s=backoff.total_seconds(),
                    )
                else:
                    # A pass that failed for a reason of its own (each attempt's and
                    # campaign's failures are handled where they happen): the loop goes
                    # on, backing off, rather than the dispatcher dying.
                    log.exception(
                        "dispatch pass failed; retrying", retry_in_s=backoff.total_seconds()
                    )
                next_at = self.clock.now() + backoff
                backoff = min(backoff * 2, self.settings.max_backoff)
            now = self.clock.now()
            until = min(next_at or now + self.settings.idle, now + self.settings.idle)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, (until - now).total_seconds()))
        await self.drain()
        log.info("dispatcher stopped", name=self.name)

    async def drain(self) -> None:
        """Let dials already scheduled go out (their attempts are recorded)."""
        while self._dials:
            await asyncio.gather(*list(self._dials), return_exceptions=True)
        await self.ends.drain()

    async def _db(self, work: Callable[[], T]) -> T:
        """Run one store call, on a worker thread when ``offload`` is set."""
        return await storecalls.call(work, offload=self.settings.offload)

    async def _retrying(self, work: Callable[[], T]) -> T:
        """Run one store call, waiting out a database that cannot be reached."""
        return await storecalls.call_retrying(
            work, offload=self.settings.offload, max_backoff=self.settings.max_backoff
        )
