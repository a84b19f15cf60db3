"""A campaign's config stored as JSON: the voicemail policy, and configs stored before it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from ringcast.core.model import CampaignConfig, Schedule, VoicemailAction, VoicemailPolicy
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow
from ringcast.db.config_json import config_from_json, config_to_json

START = datetime(2026, 6, 1, 8, tzinfo=UTC)
CONFIG = CampaignConfig(
    id="c1",
    status=CampaignStatus.SCHEDULED,
    schedule=Schedule(WeeklyWindow("Europe/Paris", (Slot(time(10), time(12)),)), starts_at=START),
    pacing=PacingLimits(attempts_per_second=1),
    retry=RetryPolicy(),
)


def read_back(config: CampaignConfig) -> CampaignConfig:
    return config_from_json(
        config.id,
        config.status.value,
        config_to_json(config),
        config.schedule.starts_at,
        config.schedule.ends_at,
    )


@pytest.mark.parametrize(
    "policy",
    [
        VoicemailPolicy(),
        VoicemailPolicy(VoicemailAction.HANGUP),
        VoicemailPolicy(VoicemailAction.LEAVE_MESSAGE, message_text="Call us back on 0800."),
        VoicemailPolicy(
            VoicemailAction.LEAVE_MESSAGE, message_audio_url="https://cdn.example.com/m.mp3"
        ),
    ],
    ids=["agent", "hangup", "text", "audio"],
)
def test_the_voicemail_policy_survives_storage(policy: VoicemailPolicy) -> None:
    """Every voicemail policy reads back from the stored JSON exactly as it was written."""
    assert read_back(replace(CONFIG, voicemail=policy)) == replace(CONFIG, voicemail=policy)


def test_a_config_stored_before_voicemail_policies_reads_as_the_default() -> None:
    """A stored config without a voicemail entry (or a null one) lets the agent handle it."""
    stored = config_to_json(CONFIG)
    for old in (
        {k: v for k, v in stored.items() if k != "voicemail"},
        {**stored, "voicemail": None},
    ):
        got = config_from_json("c1", "scheduled", old, START, None)
        assert got.voicemail == VoicemailPolicy(VoicemailAction.AGENT)
        assert got == CONFIG
