"""A campaign's voicemail settings: what a call does when an answering machine picks up,
and whether voicemail and declined calls are retried. Shared by every surface that
exposes them (the native API today).

The policy is stored with the campaign's config; the two retry switches are not stored
as such but read from, and written into, the campaign's retry rules (on the shared
budget), so that a Volubile ``retryOn`` or a Sarvam ``no_answer`` switch and these
settings are one and the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from ringcast.core.errors import FieldError, InvalidTransition, ValidationFailed
from ringcast.core.model import VoicemailAction, VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.retry import retries_on, retry_budget, with_retry_on
from ringcast.ports import CampaignStore
from ringcast.records import Campaign

#: Longest message a gateway is asked to say: about a minute of speech, which is more
#: than an answering machine usually records.
MAX_MESSAGE_CHARS = 1_000
#: Longest audio URL accepted; longer ones are not links a provider will fetch.
MAX_URL_CHARS = 2_048


@dataclass(frozen=True)
class VoicemailSettings:
    policy: VoicemailPolicy
    retry_on_voicemail: bool  #: a rule of the retry policy retries voicemail
    retry_on_rejected: bool  #: a rule of the retry policy retries a declined call


def settings_of(campaign: Campaign) -> VoicemailSettings:
    """The campaign's voicemail settings, as its stored config has them."""
    retry = campaign.config.retry
    return VoicemailSettings(
        policy=campaign.config.voicemail,
        retry_on_voicemail=retries_on(retry, Outcome.VOICEMAIL),
        retry_on_rejected=retries_on(retry, Outcome.REJECTED),
    )


def voicemail_policy(
    action: str, message_text: str | None, message_audio_url: str | None
) -> VoicemailPolicy:
    """A policy from what a client sent, or ``ValidationFailed`` naming every bad field.

    ``leave_message`` needs exactly one message; the other actions play none, so a
    message sent with them is refused rather than stored and silently never played.
    """
    errors: list[FieldError] = []
    try:
        chosen = VoicemailAction(action)
    except ValueError:
        names = ", ".join(a.value for a in VoicemailAction)
        raise ValidationFailed.single("action", action, f"must be one of {names}") from None
    if message_text is not None:
        if not message_text.strip():
            errors.append(FieldError("message_text", message_text, "must not be empty"))
        elif len(message_text) > MAX_MESSAGE_CHARS:
            errors.append(
                FieldError(
                    "message_text",
                    message_text,
                    f"must be at most {MAX_MESSAGE_CHARS} characters (has {len(message_text)})",
                )
            )
    if message_audio_url is not None:
        problem = _url_problem(message_audio_url)
        if problem:
            errors.append(FieldError("message_audio_url", message_audio_url, problem))
    if chosen is VoicemailAction.LEAVE_MESSAGE:
        if message_text is None and message_audio_url is None:
            errors.append(
                FieldError(
                    "message_text",
                    None,
                    "leave_message needs a message_text or a message_audio_url",
                )
            )
        elif message_text is not None and message_audio_url is not None:
            errors.append(
                FieldError(
                    "message_audio_url",
                    message_audio_url,
                    "leave_message takes a message_text or a message_audio_url, not both",
                )
            )
    else:
        for name, value in (
            ("message_text", message_text),
            ("message_audio_url", message_audio_url),
        ):
            if value is not None:
                errors.append(
                    FieldError(
                        name, value, f"only leave_message plays a message, not {chosen.value}"
                    )
                )
    if errors:
        raise ValidationFailed(errors)
    return VoicemailPolicy(chosen, message_text=message_text, message_audio_url=message_audio_url)


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    return None


def set_voicemail(
    store: CampaignStore,
    campaign: Campaign,
    settings: VoicemailSettings,
    now: datetime,
    by: str | None,
) -> Campaign:
    """Store the voicemail policy and add or remove voicemail and declined calls in the
    campaign's retry rules; not once the campaign has finished.

    Turning a retry on is refused when the budget it would draw on allows no retry at
    all: the switch would read true and never retry anyone.
    """
    status = campaign.config.status
    if status.is_terminal:
        raise InvalidTransition(status.value, "change the voicemail settings of")
    was = campaign.config.retry
    switches = (
        ("retry_on_voicemail", Outcome.VOICEMAIL, settings.retry_on_voicemail),
        ("retry_on_rejected", Outcome.REJECTED, settings.retry_on_rejected),
    )
    retry = was
    for _, outcome, enabled in switches:
        retry = with_retry_on(retry, outcome, enabled)
    refused = [
        FieldError(
            name,
            True,
            f"the campaign's retry policy allows no retry (max_retries is {was.max_retries})",
        )
        for name, outcome, enabled in switches
        if enabled and not retries_on(was, outcome) and retry_budget(retry, outcome) == 0
    ]
    if refused:
        raise ValidationFailed(refused)
    config = replace(campaign.config, voicemail=settings.policy, retry=retry)
    updated = replace(campaign, config=config, updated_at=now, updated_by=by)
    store.update_campaign(updated)
    return updated
