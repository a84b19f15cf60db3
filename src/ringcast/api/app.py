"""The application factory. Everything is built here and passed down; nothing at import."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import ringcast
from ringcast.api import errors, openapi, ratelimit
from ringcast.api.auth import AuthFailed, TokenSigner
from ringcast.api.bodies import BodyLimit
from ringcast.api.bodies import Limits as BodyLimits
from ringcast.api.inputs import WellFormedInput
from ringcast.api.native.compliance import router as compliance_router
from ringcast.api.native.connections import router as connections_router
from ringcast.api.native.export import router as export_router
from ringcast.api.native.gateway import router as gateway_router
from ringcast.api.native.routes import router as native_router
from ringcast.api.native.voicemail import router as voicemail_router
from ringcast.api.ratelimit import MemoryCounter, QuotaHeaders, RateLimiter, WindowCounter
from ringcast.api.renderers import WEBHOOK_RENDERERS
from ringcast.api.sarvam.routes import router as sarvam_router
from ringcast.api.volubile.routes import router as volubile_router
from ringcast.clock import Clock
from ringcast.core.pacing import PacingLimits
from ringcast.dispatch.runner import BackgroundDispatcher, CohortJobRunner
from ringcast.dispatch.runner import build as build_dispatcher
from ringcast.metrics import Metrics, StoreGauges
from ringcast.ports import SqlStoreApi
from ringcast.runtime import Runtime
from ringcast.ui.site import install as install_dashboard


def _operation_id(route: APIRoute) -> str:
    # Stable ids: the route's own name, so generated clients do not churn.
    return route.name


def create_app(
    runtime: Runtime, clock: Clock, *, dispatch: bool = False, cohort_jobs: bool | None = None
) -> FastAPI:
    """The app; with ``dispatch`` it also runs a dispatcher for its lifetime, and with
    ``cohort_jobs`` (by default as ``dispatch``) the runner that resumes cohort uploads
    a dead process left (``serve`` runs it always)."""
    app = FastAPI(
        lifespan=_lifespan(
            runtime, clock, dispatch, dispatch if cohort_jobs is None else cohort_jobs
        ),
        title="ringcast",
        version=ringcast.__version__,
        description="Outbound-call campaign engine for AI voice agents. Speaks the Volubile "
        "API under /v1 and the Sarvam scheduling API under /api/scheduling/v1.",
        generate_unique_id_function=_operation_id,
    )
    _put_state(app, runtime, clock)
    errors.install(app)
    # Added last, run first: the body limit wraps the strict JSON reading, which reads a
    # body whole (the rate-limit headers sit between them).
    app.add_middleware(WellFormedInput)
    app.add_middleware(QuotaHeaders)
    settings = runtime.settings
    app.add_middleware(
        BodyLimit, limits=BodyLimits(settings.max_body_bytes, settings.max_upload_bytes)
    )
    app.include_router(_ops_router(runtime, app.state.metrics))
    app.include_router(volubile_router)
    app.include_router(sarvam_router)
    app.include_router(native_router)
    app.include_router(compliance_router)
    app.include_router(gateway_router)
    app.include_router(connections_router)
    app.include_router(voicemail_router)
    app.include_router(export_router)
    install_dashboard(app, settings)  # the dashboard under /ui/ (and / leads there)
    openapi.install(app)
    return app


def _lifespan(
    runtime: Runtime, clock: Clock, dispatch: bool, cohort_jobs: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = CohortJobRunner(runtime, clock) if cohort_jobs else None
        if jobs is not None:
            jobs.start()
        try:
            if not dispatch:
                yield
                return
            background = BackgroundDispatcher(
                build_dispatcher(runtime, clock, app.state.metrics, WEBHOOK_RENDERERS)
            )
            background.start()
            try:
                yield
            finally:
                background.stop()
        finally:
            if jobs is not None:
                jobs.stop()

    return lifespan


def _put_state(app: FastAPI, runtime: Runtime, clock: Clock) -> None:
    """What the dependencies (``api.deps``) and the routes read from ``app.state``."""
    settings = runtime.settings
    # The routes see the store through its Protocol (api.deps); the assignment makes mypy
    # prove that the SQL store satisfies it.
    store: SqlStoreApi = runtime.store
    app.state.runtime = runtime
    app.state.store = store
    app.state.clock = clock
    app.state.signer = TokenSigner(settings.token_secret, clock)
    # PostgreSQL: every API process counts in the database; SQLite: one process, memory
    counter: WindowCounter = MemoryCounter() if settings.is_sqlite else runtime.store
    app.state.limiter = RateLimiter(ratelimit.rules(settings), counter)
    app.state.pacing_defaults = PacingLimits(
        attempts_per_second=settings.default_attempts_per_second,
        max_concurrent=settings.default_max_concurrent,
    )
    metrics = Metrics()
    metrics.registry.register(StoreGauges(store, clock))
    app.state.metrics = metrics


def _ops_router(runtime: Runtime, metrics: Metrics) -> APIRouter:
    """What operators poll: Prometheus figures, liveness and readiness."""
    router = APIRouter(tags=["ops"])

    @router.get("/metrics", response_class=PlainTextResponse)
    def prometheus(
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> PlainTextResponse:
        """Prometheus exposition: attempts by outcome, dial lateness, backlogs, all
        deployment-wide (no label names an organization, a campaign or a number). With
        ``RINGCAST_METRICS_TOKEN`` set, only ``Authorization: Bearer <token>`` reads it."""
        wanted = runtime.settings.metrics_token
        given = (authorization or "").removeprefix("Bearer ").strip()
        if wanted and not hmac.compare_digest(given.encode(), wanted.encode()):
            raise AuthFailed(401, "a valid metrics token is required")
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers. It asks the database nothing, so an outage does
        not get every process restarted; ``/readyz`` says whether to send it traffic."""
        return {"status": "ok", "version": ringcast.__version__}

    @router.get("/readyz", responses={503: {"description": "not ready, and why"}})
    def readyz() -> JSONResponse:
        """Readiness: 200 when the database answers and is migrated to this version's
        head; 503 with a short ``reason`` otherwise."""
        reason = runtime.unready_reason()
        if reason is not None:
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", "version": ringcast.__version__})

    return router
