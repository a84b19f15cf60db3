"""Native endpoints for a campaign's voicemail settings: what a call does when an
answering machine picks up, and whether voicemail and declined calls are retried."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ringcast.api.deps import (
    ClockDep,
    PrincipalDep,
    ScopedRoute,
    StoreDep,
    WorkspaceCampaignDep,
    requires,
)
from ringcast.core.model import VoicemailAction
from ringcast.services import voicemail as service
from ringcast.services.voicemail import MAX_MESSAGE_CHARS, VoicemailSettings

router = APIRouter(prefix="/ringcast/v1", tags=["voicemail"], route_class=ScopedRoute)


class CampaignVoicemail(BaseModel):
    """The whole of a campaign's voicemail settings: what GET returns, PUT takes back."""

    action: VoicemailAction = Field(
        description="hangup: end the call; leave_message: play the message, then end the "
        "call; agent: let the agent handle it as it would any callee"
    )
    message_text: str | None = Field(
        default=None,
        max_length=MAX_MESSAGE_CHARS,
        description="With leave_message: the text to say (or this, or message_audio_url)",
    )
    message_audio_url: str | None = Field(
        default=None, description="With leave_message: an http(s) URL of a recording to play"
    )
    retry_on_voicemail: bool = Field(
        description="Call again after an answering machine took the call, on the campaign's "
        "retry budget"
    )
    retry_on_rejected: bool = Field(
        description="Call again after the callee declined the call, on the campaign's retry "
        "budget (declined calls are otherwise never retried)"
    )


def _view(settings: VoicemailSettings) -> CampaignVoicemail:
    policy = settings.policy
    return CampaignVoicemail(
        action=policy.action,
        message_text=policy.message_text,
        message_audio_url=policy.message_audio_url,
        retry_on_voicemail=settings.retry_on_voicemail,
        retry_on_rejected=settings.retry_on_rejected,
    )


@router.get(
    "/campaigns/{campaign_id}/voicemail",
    operation_id="getCampaignVoicemail",
    dependencies=[requires("campaigns:read")],
)
def get_campaign_voicemail(campaign: WorkspaceCampaignDep) -> CampaignVoicemail:
    """The campaign's voicemail policy and voicemail and declined-call retries."""
    return _view(service.settings_of(campaign))


@router.put(
    "/campaigns/{campaign_id}/voicemail",
    operation_id="setCampaignVoicemail",
    dependencies=[requires("campaigns:write")],
)
def set_campaign_voicemail(
    campaign: WorkspaceCampaignDep,
    principal: PrincipalDep,
    store: StoreDep,
    clock: ClockDep,
    body: CampaignVoicemail,
) -> CampaignVoicemail:
    """Set the voicemail policy, and retry voicemail and declined calls or not (409 once
    the campaign has finished)."""
    settings = VoicemailSettings(
        policy=service.voicemail_policy(
            body.action.value, body.message_text, body.message_audio_url
        ),
        retry_on_voicemail=body.retry_on_voicemail,
        retry_on_rejected=body.retry_on_rejected,
    )
    updated = service.set_voicemail(store, campaign, settings, clock.now(), principal.actor)
    return _view(service.settings_of(updated))
