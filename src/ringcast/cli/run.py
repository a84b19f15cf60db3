"""Running ringcast: the HTTP server (with its embedded dispatcher) and bare workers."""

from __future__ import annotations

from typing import Annotated

import typer

from ringcast.cli.common import database_shown, err, fail, load_settings, opened
from ringcast.clock import SystemClock


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default RINGCAST_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default RINGCAST_PORT or 8000).")] = None,
) -> None:
    """Start the HTTP server. On the embedded SQLite default it sets its database up itself."""
    import uvicorn

    from ringcast import logs, telemetry
    from ringcast.api.app import create_app

    settings = load_settings()
    logs.configure(settings.log_level)
    telemetry.configure()
    with opened(settings) as runtime:
        web = create_app(
            runtime, SystemClock(), dispatch=settings.embedded_dispatcher, cohort_jobs=True
        )
        where = f"http://{host or settings.host}:{port or settings.port}"
        err.print(f"ringcast on {where}  database: {database_shown(settings)}")
        uvicorn.run(
            web,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
            log_config=None,  # uvicorn's logs go through ours (``logs.configure``)
        )


def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve /metrics and /healthz on this port (default: no HTTP at all).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address the --metrics-port listens on.")
    ] = "127.0.0.1",
) -> None:
    """Run a dispatcher without the HTTP server (any number, over one PostgreSQL).

    With --metrics-port it also serves /metrics (Prometheus, behind RINGCAST_METRICS_TOKEN
    when set) and /healthz (200 while the dispatcher's loop goes round, else 503)."""
    import asyncio
    import signal

    from ringcast import logs, telemetry
    from ringcast.api.observe import ProbeServer, probe_app
    from ringcast.api.renderers import WEBHOOK_RENDERERS
    from ringcast.dispatch.runner import CohortJobRunner, build, run_until
    from ringcast.metrics import Metrics, StoreGauges

    settings = load_settings()
    logs.configure(settings.log_level)
    telemetry.configure()
    with opened(settings) as runtime:
        metrics = Metrics()
        metrics.registry.register(StoreGauges(runtime.store, SystemClock()))
        dispatcher = build(runtime, SystemClock(), metrics, renderers=WEBHOOK_RENDERERS)
        probes = None
        if metrics_port is not None:
            probes = ProbeServer(
                probe_app(metrics, settings.metrics_token), metrics_host, metrics_port
            )
            try:
                probes.start()
            except OSError as exc:
                fail(f"cannot serve metrics on {metrics_host}:{metrics_port}: {exc.strerror}")

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_until(dispatcher, stop)

        where = "" if probes is None else f"  metrics: http://{metrics_host}:{metrics_port}/metrics"
        err.print(
            f"ringcast worker {dispatcher.name}  database: {database_shown(settings)}" + where
        )
        cohort_jobs = CohortJobRunner(runtime, SystemClock())  # uploads a dead process left
        cohort_jobs.start()
        try:
            asyncio.run(main())
        finally:
            cohort_jobs.stop()
            if probes is not None:
                probes.stop()
