"""Where the http gateway's runtime reports on calls: ``POST /ringcast/v1/gateway/events``.

The body is one event, signed with Standard Webhooks headers under the secret of the
runtime that placed the call (its connection's, or the deployment's gateway secret)::

    {"attempt_id", "event": "ringing" | "answered" | "completed" | "failed", "at",
     "duration_s", "qualifiers", "transcript", "extracted", "reason"}

``completed`` and ``failed`` end the attempt through the same retry policy as every
outcome; a repeated report is accepted and changes nothing. ``ringing`` and ``answered``
are acknowledged (the attempt is already recorded as in progress).
"""

from __future__ import annotations

import json
import time as wall
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from ringcast.api.auth import AuthFailed
from ringcast.api.deps import ClockDep, StoreDep
from ringcast.core import step as tick
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.gateways.http import CALLBACK_PATH, result_from_event
from ringcast.webhooks.deliver import verify

router = APIRouter(tags=["gateway"])
EVENTS = ("ringing", "answered", "completed", "failed")


@router.post(CALLBACK_PATH, status_code=204, operation_id="reportGatewayEvent")
async def report_gateway_event(request: Request, store: StoreDep, clock: ClockDep) -> Response:
    """A call's progress, reported by the voice-agent runtime (signed)."""
    settings = request.app.state.runtime.settings
    body = await request.body()
    try:
        event: Any = json.loads(body)
    except ValueError:
        event = None
    # The signature is checked before anything else is answered. The report is signed
    # with the secret of the runtime that placed the call: its connection's own, or the
    # deployment's (RINGCAST_HTTP_GATEWAY_SECRET).
    attempt_id = event.get("attempt_id") if isinstance(event, dict) else None
    call = store.get_call(attempt_id) if isinstance(attempt_id, str) else None
    secrets = [settings.http_gateway_secret]
    if call is not None and call.attempt.connection_id:
        connection = store.get_connection(call.org_id, call.attempt.connection_id)
        if connection is not None and connection.gateway == "http":
            secrets.insert(0, str(connection.settings.get("secret") or ""))
    # Standard Webhooks compares the timestamp with the receiver's wall clock.
    now_s = int(wall.time())  # noqa: TID251
    if not any(s and verify(s, request.headers, body, now_s) for s in secrets):
        raise AuthFailed(401, "missing or invalid webhook signature")
    if event is None:
        raise ValidationFailed.single(
            "body", body[:80].decode(errors="replace"), "not JSON"
        ) from None
    if not isinstance(event, dict):
        raise ValidationFailed.single("body", str(event)[:80], "must be a JSON object")
    kind = event.get("event")
    if kind not in EVENTS:
        raise ValidationFailed.single("event", kind, f"must be one of {', '.join(EVENTS)}")
    if call is None:
        raise NotFound("attempt", str(attempt_id))
    if kind in ("completed", "failed"):
        result = result_from_event(call.attempt.id, event, clock.now())
        ended = await run_in_threadpool(store.end_attempt, result, tick.finisher(result))
        if ended is not None:  # counted once, as the dispatcher counts the ends it records
            request.app.state.metrics.attempts.labels(ended[1].outcome.value).inc()
    return Response(status_code=204)
