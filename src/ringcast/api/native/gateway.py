"""Where gateways report on calls: an http runtime at ``POST /ringcast/v1/gateway/events``,
a provider at ``POST /ringcast/v1/gateway/{twilio,livekit,retell}/{connection_id}`` (the
provider routes' work is in ``provider_callbacks``).

An http runtime's body is one event, signed with Standard Webhooks headers under the secret
of the runtime that placed the call (its connection's, or the deployment's gateway secret)::

    {"attempt_id", "event": "ringing" | "answered" | "completed" | "failed", "at",
     "duration_s", "qualifiers", "transcript", "extracted", "reason"}

``completed`` and ``failed`` end the attempt through the same path as every outcome the
dispatcher records (``dispatch.ends.CallEnds``: the retry policy, written together with
the other ends arriving meanwhile); a repeated report is accepted and changes nothing.
``ringing`` and ``answered`` are acknowledged (the attempt is already recorded as in
progress).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from ringcast import jsontext, signing
from ringcast.api.auth import AuthFailed
from ringcast.api.deps import ClockDep, SettingsDep, StoreDep
from ringcast.api.native.provider_callbacks import (
    AMD_PATH,
    CallbackReceiver,
    ConnectionDirectoryDep,
    ProviderGatewaysDep,
)
from ringcast.core.errors import NotFound, ValidationFailed
from ringcast.dispatch.ends import CallEnds
from ringcast.gateways.http import CALLBACK_PATH, report_problems, result_from_event

router = APIRouter(tags=["gateway"])
EVENTS = ("ringing", "answered", "completed", "failed")


async def get_call_ends(request: Request, store: StoreDep, clock: ClockDep) -> CallEnds:
    """The server's own sink for calls' ends, made on first use (on the server's event
    loop, which an ``async`` dependency runs on: two requests cannot both make one).

    It lives on the server's event loop: the embedded dispatcher, when there is one, runs
    on another thread and loop with its own sink. Both count ends in the app's metrics,
    each end once (the store says which ends it had recorded already). The database
    being away is not waited out here: the report fails, and the runtime reports again.
    """
    state = request.app.state
    ends: CallEnds | None = getattr(state, "call_ends", None)
    if ends is None:
        ends = state.call_ends = CallEnds(
            store, state.metrics, offload=True, wait_out_outages=False, now=clock.now
        )
    return ends


CallEndsDep = Annotated[CallEnds, Depends(get_call_ends)]


@router.post(CALLBACK_PATH, status_code=204, operation_id="reportGatewayEvent")
async def report_gateway_event(
    request: Request, store: StoreDep, clock: ClockDep, ends: CallEndsDep
) -> Response:
    """A call's progress, reported by the voice-agent runtime (signed)."""
    settings = request.app.state.runtime.settings
    body = await request.body()
    try:
        event: object = jsontext.loads(body, non_finite=True)
    except jsontext.JsonRefused as exc:
        event, refusal = None, exc.reason
    else:
        refusal = ""
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
    # The stamp is checked against the wall clock, like any Standard Webhooks receiver's.
    now = signing.wall_clock()
    if not any(s and signing.verify(s, request.headers, body, now) for s in secrets):
        raise AuthFailed(401, "missing or invalid webhook signature")
    if event is None:
        raise ValidationFailed.single("body", body[:80].decode(errors="replace"), refusal)
    if not isinstance(event, dict):
        raise ValidationFailed.single("body", str(event)[:80], "must be a JSON object")
    kind = event.get("event")
    if kind not in EVENTS:
        raise ValidationFailed.single("event", kind, f"must be one of {', '.join(EVENTS)}")
    if call is None:
        raise NotFound("attempt", str(attempt_id))
    # A malformed end still ends the call (its sound fields kept): refusing the report
    # must not leave the call in progress until its lease runs out.
    if kind in ("completed", "failed"):
        await ends.record(result_from_event(call.attempt.id, event, clock.now()))
    problems = report_problems(event, clock.now())
    if problems:
        raise ValidationFailed(problems)
    return Response(status_code=204)


def get_receiver(
    directory: ConnectionDirectoryDep,
    gateways: ProviderGatewaysDep,
    store: StoreDep,
    ends: CallEndsDep,
    settings: SettingsDep,
) -> CallbackReceiver:
    return CallbackReceiver(directory, gateways, store, store, ends, settings.public_url)


ReceiverDep = Annotated[CallbackReceiver, Depends(get_receiver)]
#: Each provider's callback URL under RINGCAST_PUBLIC_URL (the gateways give it out).
TWILIO_PATH = "/ringcast/v1/gateway/twilio/{connection_id}"
LIVEKIT_PATH = "/ringcast/v1/gateway/livekit/{connection_id}"
RETELL_PATH = "/ringcast/v1/gateway/retell/{connection_id}"


@router.post(
    TWILIO_PATH,
    status_code=204,
    operation_id="reportTwilioStatus",
)
async def report_twilio_status(
    connection_id: str, request: Request, receiver: ReceiverDep
) -> Response:
    """Twilio's status callback for a call placed on this connection (X-Twilio-Signature
    over the URL ringcast gave Twilio and the form body)."""
    return await receiver.take(request, "twilio", connection_id)


@router.post(
    TWILIO_PATH + AMD_PATH,
    status_code=204,
    operation_id="reportTwilioAnsweringMachine",
)
async def report_twilio_answering_machine(
    connection_id: str, request: Request, receiver: ReceiverDep
) -> Response:
    """Twilio's asynchronous answering-machine verdict for a call on this connection."""
    return await receiver.take(request, "twilio", connection_id)


@router.post(
    LIVEKIT_PATH,
    status_code=204,
    operation_id="reportLiveKitEvent",
)
async def report_livekit_event(
    connection_id: str, request: Request, receiver: ReceiverDep
) -> Response:
    """A LiveKit webhook, or the agent's own report, for this connection (a JWT signed
    with the project's key pair whose sha256 claim is the body's hash)."""
    return await receiver.take(request, "livekit", connection_id)


@router.post(
    RETELL_PATH,
    status_code=204,
    operation_id="reportRetellEvent",
)
async def report_retell_event(
    connection_id: str, request: Request, receiver: ReceiverDep
) -> Response:
    """A Retell agent's webhook (x-retell-signature, keyed with the connection's API key)."""
    return await receiver.take(request, "retell", connection_id)
