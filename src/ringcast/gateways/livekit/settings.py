"""A connection's ``livekit`` settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from typing import Any


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
