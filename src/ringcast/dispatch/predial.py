"""The pre-dial eligibility hook: ask the customer whether a contact may be dialled now.

ringcast POSTs ``{"attempt_id", "campaign_id", "contact_id", "phone", "attempt",
"context"}`` to the campaign's hook URL just before dialling, signed with Standard
Webhooks headers under the organization's webhook secret (the one its webhooks carry),
so the customer can tell ringcast's question from anybody's. The answer allows the call
only if it is a 2xx whose JSON body is ``true`` or an object with ``"eligible": true``.
Anything else (``false``, another status, a body that is not JSON, a refused connection,
no answer within the timeout) means "not now": the call is not placed and the contact
waits, with the reason ``predial_refused``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

from ringcast import egress, signing
from ringcast.core.model import PredialHook
from ringcast.core.step import Dial
from ringcast.egress import AddressRefused


@dataclass(frozen=True)
class Answer:
    eligible: bool
    detail: str  #: why not, for the logs: "said false", "HTTP 500", "timed out after 2 s"


class PredialClient:
    def __init__(self, allow_private: bool = False, client: httpx.AsyncClient | None = None):
        self.allow_private = allow_private
        self._client = client  # made on first use: most campaigns have no hook

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # egress's client: the hook's name is resolved once, vetted, connected to
            self._client = egress.client(self.allow_private)
        return self._client

    async def ask(self, hook: PredialHook, dial: Dial, secret: str) -> Answer:
        body = json.dumps(
            {
                "attempt_id": dial.attempt.id,
                "campaign_id": dial.attempt.campaign_id,
                "contact_id": dial.contact.id,
                "phone": dial.contact.phone,
                "attempt": dial.attempt.number,
                "context": dict(dial.contact.context),
            },
            separators=(",", ":"),
        ).encode()
        msg_id = f"predial-{dial.attempt.id}"
        # The customer checks the stamp against its own clock, whatever clock we run on.
        headers = {
            "content-type": "application/json",
            **signing.headers(msg_id, body, secret, signing.wall_clock()),
        }
        timeout = hook.timeout.total_seconds()
        try:
            response = await self.client.post(
                hook.url, content=body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException:
            return Answer(False, f"no answer within {timeout:g} s")
        except AddressRefused as exc:
            egress.log_refusal(exc, attempt=dial.attempt.id)
            return Answer(False, str(exc))
        except (httpx.HTTPError, LookupError, ValueError) as exc:
            return Answer(False, f"hook unreachable: {exc.__class__.__name__}")
        if not response.is_success:
            return Answer(False, f"HTTP {response.status_code}")
        try:
            said = response.json()
        except ValueError:
            return Answer(False, "answer is not JSON")
        if said is True or (isinstance(said, dict) and said.get("eligible") is True):
            return Answer(True, "eligible")
        return Answer(False, "said not eligible")
