"""The application factory. Everything is built here and passed down; nothing at import."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

import ringcast
from ringcast.clock import Clock
from ringcast.runtime import Runtime


def _operation_id(route: APIRoute) -> str:
    # Stable ids: the route's own name, so generated clients do not churn.
    return route.name


def create_app(runtime: Runtime, clock: Clock) -> FastAPI:
    app = FastAPI(
        title="ringcast",
        version=ringcast.__version__,
        description="Outbound-call campaign engine for AI voice agents.",
        generate_unique_id_function=_operation_id,
    )
    app.state.runtime = runtime
    app.state.clock = clock

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers and its database does too."""
        with runtime.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": ringcast.__version__}

    return app
