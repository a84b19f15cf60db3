"""Sarvam's per-attempt payload, built from the stored attempt, which no longer changes
once ended, so every redelivery of one event carries the same bytes. (Volubile's call
object is the API's own ``call_view``; lifecycle payloads are written with their outbox row.)
"""

from __future__ import annotations

from typing import Any

from ringcast.core.outcomes import SARVAM_STATUS
from ringcast.records import CallRecord, Campaign
from ringcast.webhooks.outbox import sarvam_hook

#: Sarvam's next_action_status for each retry rule name; None when the contact is final.
NEXT_ACTION = {
    "retry": "retry",
    "short_duration_retry": "short_duration_retry",
    "provider_error_retry": "provider_error_retry",
    "internal_error_retry": "internal_error_retry",
}


def sarvam_attempt(
    call: CallRecord, campaign: Campaign, cohort_id: str | None, user_identifier: str | None
) -> dict[str, Any]:
    """The per-attempt payload of Sarvam's reference, field for field, and the provider's
    evidence, which the reference has no field for: ``answered_by`` (``human``,
    ``machine``, ``fax``, ``unknown``) and ``provider_code`` (the provider's own code for
    the call's end), each null when the provider said nothing."""
    a = call.attempt
    connectivity, completion = SARVAM_STATUS[a.outcome]
    return {
        "app_id": campaign.agent_id,
        "app_version": campaign.agent_version,
        "attempt_id": a.id,
        "campaign_id": campaign.id,
        "cohort_id": cohort_id,
        "completion_status": completion,
        "connectivity_status": connectivity,
        "next_action_status": NEXT_ACTION.get(a.retry_rule or ""),
        "failure_reason": a.failure_reason,
        "user_identifier": user_identifier,
        "user_phone_number": call.phone,
        "agent_phone_number": a.caller_number,
        "duration": None if a.duration is None else a.duration.total_seconds(),
        "interaction_id": a.gateway_call_id,
        "retry_attempt": a.number,
        "executed_at": a.dialed_at.isoformat() if a.dialed_at else None,
        "initial_agent_variables": dict(a.variables) or None,
        "final_agent_variables": dict(call.extracted) or None,
        "interaction_transcript": [dict(t) for t in call.transcript] or None,
        "metadata": sarvam_hook(campaign).get("metadata"),
        "answered_by": a.answered_by,
        "provider_code": a.provider_code,
    }
