"""Building a dispatcher from settings, and running one beside the HTTP server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import timedelta

import structlog

from ringcast.clock import Clock
from ringcast.dispatch.loop import Dispatcher, DispatchSettings
from ringcast.dispatch.predial import PredialClient
from ringcast.gateways.base import CallGateway, Report
from ringcast.gateways.by_connection import ConnectionGateways
from ringcast.gateways.http import CALLBACK_PATH, HttpGateway
from ringcast.gateways.simulator import OutcomeModel, SimulatorGateway
from ringcast.metrics import Metrics
from ringcast.ports import DispatchStore
from ringcast.records import Connection
from ringcast.runtime import Runtime
from ringcast.services import cohorts
from ringcast.services.connections import outcome_model
from ringcast.webhooks.deliver import Deliverer, Renderer

log = structlog.get_logger("ringcast.cohorts")


def build(
    runtime: Runtime,
    clock: Clock,
    metrics: Metrics | None = None,
    renderers: Mapping[str, Renderer] | None = None,
) -> Dispatcher[DispatchStore]:
    """A dispatcher over the runtime's store, dialling through the simulator gateway;
    ``renderers`` draw the webhook bodies of the API surfaces (``api.renderers``)."""
    settings = runtime.settings
    dispatcher: Dispatcher[DispatchStore] = Dispatcher(
        runtime.store,
        clock,
        settings=DispatchSettings(
            call_lease=timedelta(seconds=settings.call_lease_s),
            offload=True,
            lead_most=timedelta(milliseconds=100),
        ),
        single_dispatcher=settings.is_sqlite,
        metrics=metrics,
        predial=PredialClient(allow_private=settings.webhooks_allow_private),
    )
    dispatcher.deliverer = Deliverer(
        runtime.store,
        clock,
        allow_private=settings.webhooks_allow_private,
        metrics=dispatcher.metrics,
        renderers=renderers,
    )
    dispatcher.gateway = connection_gateways(runtime, clock, dispatcher.report)
    return dispatcher


def connection_gateways(runtime: Runtime, clock: Clock, report: Report) -> ConnectionGateways:
    """The gateways calls go out through: each registered connection's own (the simulator,
    an http runtime, Twilio, LiveKit or Retell), else the deployment's; simulated calls
    end through ``report``. The server builds a set of its own to read providers'
    callbacks with (``api.native.provider_callbacks``).
    """
    settings = runtime.settings
    model = OutcomeModel.parse(
        settings.simulator_outcomes,
        mean_talk=timedelta(seconds=settings.simulator_talk_s),
        mean_ring=timedelta(seconds=settings.simulator_ring_s),
        seed=settings.simulator_seed,
    )
    callback_url = settings.public_url.rstrip("/") + CALLBACK_PATH
    default: CallGateway
    if settings.gateway == "http":
        if not settings.http_gateway_url or not settings.http_gateway_secret:
            raise ValueError(
                "RINGCAST_GATEWAY=http needs RINGCAST_HTTP_GATEWAY_URL and "
                "RINGCAST_HTTP_GATEWAY_SECRET"
            )
        default = HttpGateway(
            settings.http_gateway_url, settings.http_gateway_secret, callback_url=callback_url
        )
    else:
        default = SimulatorGateway(model, clock, report, dial_log=settings.simulator_dial_log)

    def for_connection(connection: Connection) -> CallGateway:
        if connection.gateway == "http":
            return HttpGateway(
                str(connection.settings["url"]),
                str(connection.settings["secret"]),
                callback_url=callback_url,
                guard=True,
                allow_private=settings.webhooks_allow_private,
            )
        return SimulatorGateway(
            outcome_model(connection),
            clock,
            report,
            dial_log=settings.simulator_dial_log,
        )

    return ConnectionGateways(
        default,
        runtime.store,
        clock,
        for_connection,
        public_url=settings.public_url,
        allow_private=settings.webhooks_allow_private,
    )


async def run_until(dispatcher: Dispatcher[DispatchStore], stop: asyncio.Event) -> None:
    """Run the dispatcher until ``stop`` is set, then let the calls in progress report and
    close the gateways' clients, on the loop they belong to (a worker, the embedded one)."""
    await dispatcher.run(stop)
    gateway = dispatcher.gateway
    if gateway is not None:
        await gateway.drain()
        await gateway.aclose()


class BackgroundDispatcher:
    """A dispatcher on its own thread and event loop, so the API's loop never waits on it."""

    def __init__(self, dispatcher: Dispatcher[DispatchStore]) -> None:
        self.dispatcher = dispatcher
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="ringcast-dispatcher", daemon=True)
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=timeout)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await run_until(self.dispatcher, self._stop)


class CohortJobRunner:
    """Cohort uploads nobody is reading (their process died, their lease lapsed), resumed
    on a thread of their own: every ``serve`` with its embedded dispatcher and every
    ``worker`` runs one, so a job is picked up by whichever process is alive."""

    def __init__(self, runtime: Runtime, clock: Clock, poll_s: float = 1.0) -> None:
        settings = runtime.settings
        self.store = runtime.store
        self.clock = clock
        self.job = cohorts.Job.here(
            timedelta(seconds=settings.cohort_lease_s), settings.cohort_batch_rows
        )
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="ringcast-cohorts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Stop after the batch in hand; an unfinished job's lease lapses for another."""
        self._stop.set()
        self._thread.join(timeout=timeout)

    def _main(self) -> None:
        busy = False
        while not self._stop.wait(0 if busy else self.poll_s):
            try:
                done = cohorts.resume_next(self.store, self.clock, self.job)
            except Exception:  # a database outage: log it, keep polling; the lease lapses
                log.exception("cohort job interrupted", owner=self.job.owner)
                done = None
            busy = done is not None
            if done is not None:
                log.info(
                    "cohort job resumed",
                    cohort=done.id,
                    status=done.status,
                    total_records=done.total_records,
                )
