"""``ringcast.api.asgi:app``: the server for any ASGI server, built from the environment.

    uvicorn ringcast.api.asgi:app --host 0.0.0.0 --port 8000 --workers 4
    gunicorn ringcast.api.asgi:app -k uvicorn.workers.UvicornWorker -w 4

(uvicorn deprecates ``uvicorn.workers`` for the ``uvicorn-worker`` package's
``uvicorn_worker.UvicornWorker``, which takes the same place.)

Each process builds its own app, as ``ringcast serve`` does (the ``RINGCAST_*`` settings,
the runtime opened and its schema checked, ``create_app``), when its server starts it up
(the ASGI lifespan): importing this module touches nothing, and no database pool is
shared across a fork (gunicorn's ``--preload`` included). So the server must run the
lifespan (uvicorn and gunicorn's worker do by default); requests before it get a 503.

Several processes must agree on what they sign, so ``RINGCAST_TOKEN_SECRET`` is required
here: without it each process would draw its own, and a bearer token one issued would be
a 401 at the next. A database the process cannot open (not migrated, migrated by a newer
ringcast, an unusable secret key) or a refused setting prints one ``error:`` line and
fails the startup, which stops uvicorn and gunicorn rather than restarting the process.

The embedded dispatcher runs in every process, as in ``serve``, unless
``RINGCAST_EMBEDDED_DISPATCHER=false``: on PostgreSQL each process is one more dispatcher
sharing the campaigns through row locks (like ``ringcast worker``); on SQLite only the
holder of the dispatcher lease dials and the others stand by to take over. To scale the
API and the dialling apart, turn it off here and run ``ringcast worker`` processes.
"""

from __future__ import annotations

import asyncio
import sys
import traceback

import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from ringcast import logs, telemetry
from ringcast.api.app import create_app
from ringcast.clock import SystemClock
from ringcast.config import Settings
from ringcast.runtime import CannotOpen, Runtime, open_runtime, unreachable


class NotStartable(RuntimeError):
    """A setting refused or a database that cannot be opened; the message, one line."""


def build() -> tuple[FastAPI, Runtime]:
    """The app of one process, and the runtime it must close, from ``RINGCAST_*``."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "RINGCAST_" + "_".join(str(p) for p in first["loc"]).upper()
        raise NotStartable(f"invalid configuration: {name}: {first['msg']}") from None
    if not settings.token_secret:
        raise NotStartable(
            "RINGCAST_TOKEN_SECRET is not set: the processes of ringcast.api.asgi:app must "
            "share it to accept each other's bearer tokens"
        )
    logs.configure(settings.log_level)
    telemetry.configure()  # traces only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    try:
        runtime = open_runtime(settings)
    except CannotOpen as exc:
        raise NotStartable(str(exc)) from None
    except sa.exc.OperationalError as exc:
        raise NotStartable(str(unreachable(exc))) from None
    web = create_app(
        runtime, SystemClock(), dispatch=settings.embedded_dispatcher, cohort_jobs=True
    )
    return web, runtime


class FromEnvironment:
    """An ASGI app that builds the real one (``build``) at its lifespan's startup and then
    hands everything to it, the rest of the lifespan included."""

    def __init__(self) -> None:
        self._app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif self._app is None:
            await PlainTextResponse("not started: run with the ASGI lifespan", 503)(
                scope, receive, send
            )
        else:
            await self._app(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        startup = await receive()
        try:
            web, runtime = await asyncio.to_thread(build)
        except NotStartable as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)  # noqa: T201 (the CLI's shape)
            await send({"type": "lifespan.startup.failed", "message": ""})
            return
        except Exception:
            # A failure is reported, never raised: uvicorn would take a raising lifespan
            # for one it does not support, and serve 503s without the app.
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            return
        self._app = web
        replayed = False

        async def startup_then_the_rest() -> Message:
            # the app's own lifespan starts by waiting for the startup we already read
            nonlocal replayed
            if not replayed:
                replayed = True
                return startup
            return await receive()

        try:
            await web(scope, startup_then_the_rest, send)
        finally:
            self._app = None
            runtime.close()


app = FromEnvironment()
