"""For a LiveKit agent that takes ringcast's calls: what it learns, and how it reports.

An agent worker (LiveKit Agents) imports this module; it needs nothing of ringcast but
this and ``livekit-api``, which every agent worker has.

What the agent learns
---------------------
ringcast dispatches the agent into the call's room (``rc-<attempt_id>``) with this JSON
as the job's metadata (``ctx.job.metadata``)::

    {"attempt_id": "01J...",
     "callback_url": "https://ringcast.example.com/ringcast/v1/gateway/livekit/<connection>",
     "campaign_id": "...", "agent_id": "...", "agent_version": 3,
     "to": "+33612345678", "from": "+33100000001",
     "callee_identity": "callee",              # the SIP participant to talk to
     "variables": {"name": "Ada"}}             # the contact's values for the prompt

How it reports
--------------
Before it leaves the room, the agent POSTs its report to ``callback_url``, signed the way
LiveKit signs its webhooks, with the project's API key pair the agent already holds: the
``Authorization`` header is a JWT whose ``sha256`` claim is the base64 SHA-256 of the
exact body bytes::

    POST <callback_url>
    Content-Type: application/json
    Authorization: <JWT, sha256 claim = base64(sha256(body)), signed with the key pair>

    {"event": "ringcast_agent_report",
     "attempt_id": "01J...",                   # from the job metadata
     "outcome": "completed" | "partial" | "transferred" | "dropped" | "voicemail"
                | "internal_error",
     "answered_by": "human" | "machine" | "fax" | "unknown" | null,
     "code": "machine-vm" | null,              # the agent's own evidence, e.g. its AMD
                                               # category; kept as provider_code
     "answered_at": "2026-11-20T10:00:03+00:00" | null,
     "ended_at": "2026-11-20T10:01:05+00:00" | null,
     "duration_s": 62.0 | null,
     "qualifiers": ["callback_requested"],
     "transcript": [{"role": "agent", "text": "Hello"}, ...],
     "summary": "..." | null,
     "extracted": {"email": "..."}}

``agent_report_payload`` builds exactly this body and ``agent_report_headers`` signs it::

    body = agent_report_payload(job["attempt_id"], "completed", answered_by="human",
                                duration_s=62.0, qualifiers=["callback_requested"])
    headers = agent_report_headers(body, api_key, api_secret)
    await session.post(job["callback_url"], data=body, headers=headers)

ringcast answers 204 (also to a report it has already recorded), 401 for a signature
that does not hold, 400 for a report it cannot read. A report that comes after LiveKit's
``room_finished`` is too late: the attempt has already ended (``completed`` if it was
answered).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from livekit.api import AccessToken

from ringcast.core.outcomes import Outcome

#: The ``event`` of the agent's report, beside LiveKit's own event names.
AGENT_REPORT_EVENT = "ringcast_agent_report"
#: The callee's participant identity in its room (the agent finds the callee by it).
CALLEE_IDENTITY = "callee"
#: What an agent may say of a call it took part in.
AGENT_OUTCOMES = frozenset(
    {
        Outcome.COMPLETED,
        Outcome.PARTIAL,
        Outcome.TRANSFERRED,
        Outcome.DROPPED,
        Outcome.VOICEMAIL,
        Outcome.INTERNAL_ERROR,
    }
)
ANSWERED_BY = frozenset({"human", "machine", "fax", "unknown"})
#: LiveKit Agents' answering-machine categories, in ringcast's ``answered_by`` words.
AMD_ANSWERED_BY = {
    "human": "human",
    "machine-ivr": "machine",
    "machine-vm": "machine",
    "machine-unavailable": "machine",
    "uncertain": "unknown",
}


def agent_report_payload(
    attempt_id: str,
    outcome: str,
    *,
    answered_by: str | None = None,
    amd_category: str | None = None,
    answered_at: datetime | None = None,
    ended_at: datetime | None = None,
    duration_s: float | None = None,
    qualifiers: Iterable[str] = (),
    transcript: Sequence[Mapping[str, Any]] = (),
    summary: str | None = None,
    extracted: Mapping[str, Any] | None = None,
) -> bytes:
    """The body of the agent's report (see the module docstring), for ringcast's
    callback URL. ``amd_category`` is LiveKit Agents' answering-machine verdict
    (``human``, ``machine-vm``...): it is kept as the report's ``code`` and, unless
    ``answered_by`` is given, sets it."""
    if Outcome(outcome) not in AGENT_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(sorted(AGENT_OUTCOMES))}")
    if answered_by is None and amd_category is not None:
        answered_by = AMD_ANSWERED_BY.get(amd_category, "unknown")
    if answered_by is not None and answered_by not in ANSWERED_BY:
        raise ValueError(f"answered_by must be one of {', '.join(sorted(ANSWERED_BY))}")
    return json.dumps(
        {
            "event": AGENT_REPORT_EVENT,
            "attempt_id": attempt_id,
            "outcome": outcome,
            "answered_by": answered_by,
            "code": amd_category,
            "answered_at": answered_at.isoformat() if answered_at else None,
            "ended_at": ended_at.isoformat() if ended_at else None,
            "duration_s": duration_s,
            "qualifiers": sorted(set(qualifiers)),
            "transcript": [dict(t) for t in transcript],
            "summary": summary,
            "extracted": dict(extracted or {}),
        },
        separators=(",", ":"),
        default=str,
    ).encode()


def agent_report_headers(
    body: bytes, api_key: str, api_secret: str, ttl: timedelta = timedelta(minutes=5)
) -> dict[str, str]:
    """Headers that sign ``body`` the way LiveKit signs its webhooks: a JWT made with the
    project's key pair whose ``sha256`` claim is the body's hash."""
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    token = AccessToken(api_key, api_secret).with_sha256(digest).with_ttl(ttl).to_jwt()
    return {"Authorization": token, "Content-Type": "application/json"}
