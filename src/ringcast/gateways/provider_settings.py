"""Each provider gateway's connection settings, apart from the gateway itself.

Registering or checking a connection (every CLI command and server start reads these)
must not import the providers' SDKs, which take seconds to import: the gateways import
them only when a connection that uses them places a call (``gateways.by_connection``).
So the settings, and what checking them needs, live here, free of any SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from typing import Any

TWILIO_API = "https://api.twilio.com"
RETELL_API = "https://api.retellai.com"
MACHINE_DETECTION_MODES = frozenset({"Enable", "DetectMessageEnd"})
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class TwilioSettings:
    """A connection's ``"twilio"`` settings (the names are the connection body's).

    * ``account_sid``: ``AC`` and 32 hex digits, the account calls are placed on.
    * ``auth_token``: the account's auth token; it authenticates the API requests and
      keys the signature on every callback. Never shown (``repr`` leaves it out).
    * ``answer_url``: where Twilio fetches the TwiML for an answered call (for example a
      ``<Connect><Stream url="wss://...">`` to the agent), or
    * ``twiml``: that TwiML itself. Exactly one of the two.
    * ``machine_detection``: ``"Enable"`` (a verdict as soon as Twilio can tell),
      ``"DetectMessageEnd"`` (after the greeting, to leave a message) or None (no
      answering-machine detection; a voicemail then reads as a completed call).
    * ``api_base_url``: Twilio's API (``https://api.twilio.com``); a local fake in tests.
    * ``ring_timeout_s``: how long the phone may ring before the call is ``no-answer``
      (Twilio's ``Timeout``, 1-600; default 30 s, about six rings).
    * ``time_limit_s``: the longest a call may last (Twilio's ``TimeLimit``; default
      1800 s). Kept well under ringcast's call lease (2 h), so that reconciliation never
      meets a call that is still live.
    """

    account_sid: str
    auth_token: str = field(repr=False)
    answer_url: str | None = None
    twiml: str | None = None
    machine_detection: str | None = None
    api_base_url: str = TWILIO_API
    ring_timeout_s: int = 30
    time_limit_s: int = 1800

    def __post_init__(self) -> None:
        if not _ACCOUNT_SID.fullmatch(self.account_sid):
            raise ValueError("account_sid must be AC followed by 32 hex digits")
        if not self.auth_token:
            raise ValueError("auth_token is required")
        if (self.answer_url is None) == (self.twiml is None):
            raise ValueError("give exactly one of answer_url and twiml")
        if self.machine_detection is not None and (
            self.machine_detection not in MACHINE_DETECTION_MODES
        ):
            raise ValueError("machine_detection must be Enable, DetectMessageEnd or null")
        if not 1 <= self.ring_timeout_s <= 600:
            raise ValueError("ring_timeout_s must be between 1 and 600")
        if not 1 <= self.time_limit_s <= 14_400:
            raise ValueError("time_limit_s must be between 1 and 14400 (Twilio's 4 hours)")


@dataclass(frozen=True)
class LiveKitSettings:
    """A connection's ``livekit`` settings, under the connection body's own field names.

    * ``url``: the LiveKit server (``https://...`` or ``wss://...``). Tests point it at a fake.
    * ``api_key``, ``api_secret``: an API key pair of the LiveKit project. The SDK signs
      every request with it, LiveKit signs its webhooks with it, and the agent signs its
      report with it. Both are secrets: never shown, never logged.
    * ``sip_trunk_id``: the outbound SIP trunk (``ST_...``) calls go out on.
    * ``agent_name``: the agent dispatched into each call's room (explicit dispatch).
    * ``ringing_timeout_s``: how long the phone rings before the call counts as unanswered.
    * ``max_call_duration_s``: LiveKit hangs up a call that lasts longer than this.
    * ``agent_join_timeout_s``: if a call has been answered and no agent is in the room
      this long after the dispatch, the attempt ends ``provider_error`` and is hung up.
    """

    url: str
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    sip_trunk_id: str
    agent_name: str
    ringing_timeout_s: int = 30
    max_call_duration_s: int = 1800
    agent_join_timeout_s: float = 20.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("livekit.url must be an http(s) or ws(s) URL")
        for name in ("api_key", "api_secret", "sip_trunk_id", "agent_name"):
            if not getattr(self, name):
                raise ValueError(f"livekit.{name} is required")
        if self.ringing_timeout_s <= 0 or self.max_call_duration_s <= 0:
            raise ValueError("livekit timeouts must be positive")
        if self.agent_join_timeout_s <= 0:
            raise ValueError("livekit.agent_join_timeout_s must be positive")

    @classmethod
    def from_mapping(cls, body: Mapping[str, Any]) -> LiveKitSettings:
        """The settings in a connection body's ``livekit`` object (other keys ignored)."""
        missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in body]
        if missing:
            raise ValueError(f"livekit settings lack {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})

    @property
    def agent_join_timeout(self) -> timedelta:
        return timedelta(seconds=self.agent_join_timeout_s)


@dataclass(frozen=True)
class RetellSettings:
    """A connection's ``"retell"`` settings, named as in its body.

    ``api_key``: the Retell API key calls are placed with; it also verifies Retell's
    webhooks, so it must be the key with the webhook badge in Retell's dashboard.
    ``agent_id``: the Retell agent that talks (``override_agent_id`` of every call); its
    webhook URL is the connection's callback URL. ``api_base_url``: where the Retell API
    is (tests point it at a local fake).
    """

    api_key: str
    agent_id: str
    api_base_url: str = RETELL_API

    def __repr__(self) -> str:  # the API key must never reach a log line
        return f"RetellSettings(agent_id={self.agent_id!r}, api_base_url={self.api_base_url!r})"
