"""Each vendor's retry vocabulary on voicemail and declined calls, through its translation."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from ringcast.api.sarvam import schemas as s
from ringcast.api.sarvam import translate as sarvam
from ringcast.api.volubile import schemas as w
from ringcast.api.volubile import translate as volubile
from ringcast.core.model import CampaignConfig, Schedule
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import AttemptResult, Final, Retry, RetryPolicy, decide
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, Span, WeeklyWindow
from ringcast.records import Campaign, Dialect

T0 = datetime(2026, 6, 1, 10, tzinfo=UTC)


def retried(policy: RetryPolicy, outcome: Outcome) -> bool:
    got = decide(policy, [], AttemptResult(outcome, T0), Span())
    assert isinstance(got, Retry) or got == Final(reached=False)
    return isinstance(got, Retry)


def sarvam_policy(**switches: bool) -> RetryPolicy:
    on = {k: {"enabled": v} for k, v in switches.items()}
    return sarvam.retry_policy(s.RetryConfig.model_validate({"max_retries": 2, "retry_on": on}))


def test_sarvam_busy_retries_a_busy_line_but_not_a_declined_call() -> None:
    """Sarvam's busy switch (on by default) retries a busy line, never a declined call."""
    policy = sarvam_policy()
    assert retried(policy, Outcome.BUSY)
    assert not retried(policy, Outcome.REJECTED)


@pytest.mark.parametrize("enabled", [True, False])
def test_sarvam_no_answer_retries_voicemail_with_a_missed_call(enabled: bool) -> None:
    """Sarvam's no_answer switch retries voicemail exactly when it retries a missed call."""
    policy = sarvam_policy(no_answer=enabled)
    assert retried(policy, Outcome.NO_ANSWER) is enabled
    assert retried(policy, Outcome.VOICEMAIL) is enabled


@pytest.mark.parametrize(
    ("retry_on", "voicemail", "rejected"),
    [
        (["NO_ANSWER"], False, False),
        (["VOICE_BOX"], True, False),
        (["REJECTED"], False, True),
        (["NO_ANSWER", "VOICE_BOX", "REJECTED"], True, True),
    ],
)
def test_volubile_retry_on_names_voicemail_and_declined_calls_apart(
    retry_on: list[str], voicemail: bool, rejected: bool
) -> None:
    """Volubile's VOICE_BOX retries voicemail and REJECTED a declined call; NO_ANSWER does
    neither."""
    policy = volubile.retry_policy(w.Retry(max=2, delay=1, retryOn=retry_on))
    assert retried(policy, Outcome.VOICEMAIL) is voicemail
    assert retried(policy, Outcome.REJECTED) is rejected


def test_a_volubile_declined_retry_reads_as_no_sarvam_switch() -> None:
    """A Volubile campaign retrying only declined calls shows every Sarvam switch off, now
    that busy no longer covers a declined call."""
    config = CampaignConfig(
        id="c",
        status=CampaignStatus.SCHEDULED,
        schedule=Schedule(WeeklyWindow("Europe/Paris", (Slot(time(10), time(12)),))),
        pacing=PacingLimits(attempts_per_second=1),
        retry=volubile.retry_policy(w.Retry(max=1, delay=1, retryOn=["REJECTED"])),
    )
    campaign = Campaign(config, "org", "ws", "n", "agent", Dialect.VOLUBILE, T0, T0)
    on = sarvam.detail(campaign).app_config.retry_config.retry_on
    assert (on.busy.enabled, on.no_answer.enabled, on.failed.enabled) == (False, False, False)
