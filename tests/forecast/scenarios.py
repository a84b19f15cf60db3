"""Campaigns the forecast tests run, each built the way a client would create it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ringcast import forecast
from ringcast.cli import inputs
from ringcast.core.pacing import PacingLimits
from ringcast.gateways.simulator import OutcomeModel
from ringcast.services.campaigns import NewCampaign, Recipient

MIX = "answered=0.45,no_answer=0.3,busy=0.1,voicemail=0.05,failed=0.1"


@dataclass(frozen=True)
class Scenario:
    name: str
    body: dict[str, Any]
    contacts: int
    start: datetime
    outcomes: str = MIX
    seed: int = 7
    pacing_defaults: PacingLimits = field(
        default_factory=lambda: PacingLimits(attempts_per_second=1, max_concurrent=10)
    )

    def new_campaign(self) -> NewCampaign:
        return inputs.new_campaign(self.body, self.pacing_defaults)

    def recipients(self) -> list[Recipient]:
        return inputs.generated(self.contacts, self.new_campaign().config.schedule.weekly.zone)

    def model(self) -> OutcomeModel:
        return OutcomeModel.parse(self.outcomes, seed=self.seed)

    def run(self) -> forecast.Forecast:
        return forecast.from_new_campaign(
            self.new_campaign(), self.recipients(), self.model(), self.start
        )


def sarvam_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "EMI reminders",
        "start_timestamp": "2026-06-01T03:30:00Z",
        "end_timestamp": "2026-06-08T12:30:00Z",
        "app_config": {
            "app_id": "agent-1",
            "attempts_per_second": 0.5,
            "connection_configs": [
                {"connection_id": "exotel-1", "phone_numbers": ["+918012345678"], "weight": 2},
                {
                    "connection_id": "plivo-1",
                    "phone_numbers": ["+918012345679", "+918012345680"],
                    "weight": 1,
                },
            ],
            "retry_config": {
                "max_retries": 3,
                "retry_on": {
                    "busy": {"enabled": True},
                    "no_answer": {"enabled": True},
                    "failed": {"enabled": True},
                    "short_duration": {"enabled": True, "threshold_seconds": 8},
                },
                "retry_interval_minutes": [20, 60],
            },
        },
        "allowed_schedule": {
            "allowed_start_time": "10:00",
            "allowed_end_time": "12:00",
            "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
            "timezone": "Asia/Kolkata",
        },
    }
    body.update(over)
    return body


def volubile_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Autumn reminders",
        "agentId": "agent-1",
        "startDate": "2026-10-23",
        "timeSlots": [{"startTime": "09:00", "endTime": "12:00"}],
        "batchSize": 60,
        "days": ["MONDAY", "FRIDAY", "SATURDAY", "SUNDAY"],
        "timezone": "Europe/Paris",
        "retry": {"max": 2, "delay": 20, "retryOn": ["NO_ANSWER"]},
    }
    body.update(over)
    return body


SARVAM_WEEK = Scenario(
    "sarvam_week", sarvam_body(), contacts=150, start=datetime.fromisoformat("2026-06-01T03:30Z")
)
#: Europe/Paris leaves summer time on Sunday 2026-10-25; the daily cap and the 10:00 slot
#: must follow local days and local hours across it.
PARIS_DST = Scenario(
    "paris_dst", volubile_body(), contacts=150, start=datetime.fromisoformat("2026-10-23T06:00Z")
)
#: A tight concurrency cap: dial moments follow call ends, not only the rate.
CONCURRENCY = Scenario(
    "concurrency",
    volubile_body(
        batchSize=1000, days=["THURSDAY", "FRIDAY"], startDate="2026-10-22", name="Crowded"
    ),
    contacts=120,
    start=datetime.fromisoformat("2026-10-22T07:00Z"),
    pacing_defaults=PacingLimits(attempts_per_second=5, max_concurrent=3),
)

ALL = (SARVAM_WEEK, PARIS_DST, CONCURRENCY)


def with_seed(s: Scenario, seed: int) -> Scenario:
    return replace(s, seed=seed)
