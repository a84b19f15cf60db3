"""Provider callbacks: how Twilio, LiveKit and Retell report on the calls they place.

Each connection's gateway gives its provider one callback URL,
``{RINGCAST_PUBLIC_URL}/ringcast/v1/gateway/<gateway>/<connection_id>`` (Twilio's
asynchronous answering-machine verdict goes to the same URL plus ``/amd``). The routes are
in ``api/native/gateway.py``; this module does the work.

Theory of operation
-------------------
1. The body is read as raw bytes, at most ``MAX_BODY``: a larger one is refused (413) as
   soon as its declared length or the bytes read so far say so, without reading the rest
   (``api.bodies``, the one bound on every route's body).
2. Connection ids are the customers' own, so several organizations may have registered the
   one in the URL, and the URL names no organization. Each connection registered with this
   id and this gateway is tried in turn (there are few): its gateway's ``read_callback``
   verifies the signature with that connection's secret BEFORE it parses anything, and the
   first connection whose secret verifies is the one the report came through. None: 401.
   A report signed but unreadable: 400.
3. A report about a call ringcast did not place (no attempt id: a LiveKit project or a
   Retell agent reports on all of its calls) is acknowledged: 204.
4. The attempt named must belong to that connection's organization and have gone out on
   that connection id; otherwise the answer is the one an unknown attempt gets (404), so
   that a tenant cannot end another tenant's call by registering the same connection id
   and signing with its own secret.
5. A final reading goes to the one sink for calls' ends (``dispatch.ends.CallEnds``);
   a repeated one changes nothing, except that what it adds to the call (Retell's
   analysis after its ``call_ended``: transcript, summary, extracted values, qualifiers)
   is filled in. Progress is acknowledged (204).
6. An answering machine's verdict (``answered_by:machine``, Twilio's) is handed to the
   gateway with the campaign's voicemail policy, to hang up or leave the message; if the
   provider refuses (the call ended meanwhile), that is logged and the report still 204.

Twilio signs the URL it was given, so the URL handed to ``read_callback`` is built from
``RINGCAST_PUBLIC_URL`` and the request's path and query, never from its Host header.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, Response

from ringcast import signing
from ringcast.api.auth import AuthFailed
from ringcast.api.bodies import CALLBACK_LIMIT
from ringcast.api.deps import StoreDep
from ringcast.core.errors import NotFound
from ringcast.core.model import VoicemailPolicy
from ringcast.core.step import CallResult
from ringcast.dispatch import runner
from ringcast.dispatch.ends import CallEnds
from ringcast.gateways.base import CallbackUnreadable, SignatureInvalid
from ringcast.ports import CallLog
from ringcast.records import Campaign, Connection
from ringcast.services import connections as service

log = logging.getLogger(__name__)

#: The progress that says an answering machine picked up (``gateways.twilio.reports``).
MACHINE_ANSWERED = "answered_by:machine"

#: The largest report accepted. Twilio's form posts and LiveKit's webhooks are a few KiB;
#: a Retell ``call_analyzed`` carries the whole transcript, which stays far below this.
MAX_BODY = CALLBACK_LIMIT
AMD_PATH = "/amd"

# Every gateway reads its provider's reports into the same reading and raises the same
# two errors (gateways.base).
SIGNATURE_INVALID = (SignatureInvalid,)
UNREADABLE = (CallbackUnreadable,)


class Reading(Protocol):
    """What one verified report says (``gateways.base.CallbackReading``)."""

    @property
    def attempt_id(self) -> str | None: ...

    @property
    def final(self) -> CallResult | None: ...

    @property
    def progress(self) -> str | None: ...

    @property
    def call_id(self) -> str | None: ...


class CallbackReader(Protocol):
    """A gateway that verifies and reads its provider's reports."""

    def read_callback(
        self, url: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Reading: ...

    async def answer_machine(self, call_id: str, policy: VoicemailPolicy) -> None: ...


class Campaigns(Protocol):
    """Where a call's campaign, and so its voicemail policy, is read."""

    def get_campaign(self, campaign_id: str) -> Campaign | None: ...


class ProviderGateways(Protocol):
    """The gateway each registered connection's calls go out through, as the deployment
    builds it (``gateways.by_connection.ConnectionGateways.gateway_for``)."""

    async def gateway_for(self, org_id: str, connection_id: str) -> CallbackReader | None: ...


def get_provider_gateways(request: Request) -> ProviderGateways:
    """The server's connection gateways (``app.state.provider_gateways``).

    They must be the server's own, made on its event loop: an embedded dispatcher's
    gateways live on another thread and loop.
    """
    state = request.app.state
    gateways: ProviderGateways | None = getattr(state, "provider_gateways", None)
    if gateways is None:
        # Made on first use, on the server's own loop; it only reads reports, so a call a
        # simulator gateway of it might end has nowhere to go.
        gateways = state.provider_gateways = runner.connection_gateways(
            state.runtime, state.clock, _reads_only
        )
    return gateways


async def _reads_only(result: CallResult) -> None:
    raise RuntimeError(f"the server's callback gateways place no call ({result.attempt_id})")


def get_connection_directory(store: StoreDep) -> service.ConnectionsById:
    """The store, seen as the place to find every organization's connection with an id."""
    return store


ProviderGatewaysDep = Annotated[ProviderGateways, Depends(get_provider_gateways)]
ConnectionDirectoryDep = Annotated[service.ConnectionsById, Depends(get_connection_directory)]


@dataclass(frozen=True)
class CallbackReceiver:
    """Everything a provider callback is checked against and recorded through."""

    directory: service.ConnectionsById
    gateways: ProviderGateways
    calls: CallLog
    campaigns: Campaigns
    ends: CallEnds
    public_url: str

    async def take(self, request: Request, gateway: str, connection_id: str) -> Response:
        """Verify, authorize and record one report (see the module docstring)."""
        body = await request.body()  # bounded by ``api.bodies`` (MAX_BODY)
        url = self.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        # The signature's freshness is judged against the wall clock, the provider's own.
        now = signing.wall_clock()
        candidates = await asyncio.to_thread(
            service.callback_candidates, self.directory, connection_id, gateway
        )
        for connection in candidates:
            reader = await self.gateways.gateway_for(connection.org_id, connection.id)
            if reader is None:
                continue
            reading = self._read(reader, url, request.headers, body, now)
            if reading is not None:
                return await self._record(connection, reader, reading)
        raise AuthFailed(401, "missing or invalid signature")

    @staticmethod
    def _read(
        reader: CallbackReader,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> Reading | None:
        """The report as this connection's gateway reads it; None when the connection's
        secret does not verify it."""
        try:
            return reader.read_callback(url, headers, body, now)
        except SIGNATURE_INVALID:
            return None
        except UNREADABLE as exc:
            raise HTTPException(400, f"unreadable report: {exc}"[:300]) from None

    async def _record(
        self, connection: Connection, reader: CallbackReader, reading: Reading
    ) -> Response:
        attempt_id = reading.attempt_id
        if attempt_id is None:
            return Response(status_code=204)  # a call ringcast did not place
        call = await asyncio.to_thread(self.calls.get_call, attempt_id)
        if (
            call is None
            or call.org_id != connection.org_id
            or call.attempt.connection_id != connection.id
        ):
            raise NotFound("attempt", attempt_id)
        if reading.final is not None:
            if await self.ends.record(reading.final) is None:  # ended before: add details
                await asyncio.to_thread(self.calls.add_call_details, reading.final)
        elif reading.progress == MACHINE_ANSWERED and reading.call_id:
            await self._answer_machine(reader, call.attempt.campaign_id, reading.call_id)
        return Response(status_code=204)

    async def _answer_machine(self, reader: CallbackReader, campaign_id: str, call_id: str) -> None:
        campaign = await asyncio.to_thread(self.campaigns.get_campaign, campaign_id)
        if campaign is None:
            return
        try:
            await reader.answer_machine(call_id, campaign.config.voicemail)
        except Exception as exc:
            # The call goes on as the agent's (or has ended): the report itself was fine.
            log.warning("voicemail policy not carried out on %s: %r", call_id, exc)
