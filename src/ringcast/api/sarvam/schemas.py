"""Sarvam's scheduling API wire format, as its pages (the seeds and the reference) give it.

Errors keep FastAPI's shapes, which is what Sarvam serves: 422 ``detail[]`` for
validation, ``{"detail": "..."}`` otherwise.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, time
from enum import StrEnum
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ringcast.api.bounded import BoundedInstant, Int32
from ringcast.core.retry import MAX_RETRIES, MAX_RETRY_INTERVAL, MAX_SHORT_DURATION

#: The longest retry interval, in Sarvam's minutes: the core's bound (a week, 10,080).
MAX_RETRY_MINUTES = MAX_RETRY_INTERVAL.total_seconds() / 60

_NAME = re.compile(r"^[A-Za-z0-9 _-]+$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Weekday(StrEnum):
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"


class Status(StrEnum):
    ENDED = "ended"
    ACTIVE = "active"
    PAUSED = "paused"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


def _campaign_name(v: str) -> str:
    if not _NAME.match(v):
        raise PydanticCustomError(
            "name_chars", "may hold only letters, digits, hyphens, underscores and spaces"
        )
    return v


def hhmm(v: str) -> time:
    if not _HHMM.match(v):
        raise PydanticCustomError("time_format", "must be a time of day as HH:MM (24-hour)")
    return time.fromisoformat(v)


def phone_e164(value: str) -> str:
    """E.164; a 10-digit Indian number without its prefix is normalised (Sarvam does this)."""
    digits = value.strip()
    region = "IN" if not digits.startswith("+") else None
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError(
            "phone", "must be a phone number in E.164, e.g. +919876543210"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise PydanticCustomError("phone", "is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class AllowedScheduleConfig(BaseModel):
    allowed_start_time: str = Field(description="HH:MM, 24-hour, in timezone", examples=["09:00"])
    allowed_end_time: str = Field(description="HH:MM, 24-hour, after the start", examples=["18:00"])
    allowed_days: list[Weekday] = Field(min_length=1)
    timezone: str = Field(default="Asia/Kolkata", description="IANA time zone")

    @field_validator("allowed_start_time", "allowed_end_time")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        hhmm(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v not in zoneinfo.available_timezones():
            raise PydanticCustomError("timezone", "must be an IANA time zone, e.g. Asia/Kolkata")
        return v

    @model_validator(mode="after")
    def _order(self) -> AllowedScheduleConfig:
        if hhmm(self.allowed_end_time) <= hhmm(self.allowed_start_time):
            raise PydanticCustomError(
                "window_order",
                "allowed_end_time must be after allowed_start_time (windows do not cross midnight)",
                {"field": "allowed_schedule.allowed_end_time", "value": self.allowed_end_time},
            )
        return self


class RetrySwitch(BaseModel):
    enabled: bool = True


class ShortDurationRetry(BaseModel):
    enabled: bool = False
    threshold_seconds: float = Field(default=10, gt=0, le=MAX_SHORT_DURATION.total_seconds())


class ErrorRetry(BaseModel):
    enabled: bool = False
    max_retries: int = Field(default=3, ge=0, le=MAX_RETRIES)
    retry_interval_minutes: float = Field(default=5, gt=0, le=MAX_RETRY_MINUTES)


class RetryOn(BaseModel):
    busy: RetrySwitch = RetrySwitch()
    failed: RetrySwitch = RetrySwitch()
    no_answer: RetrySwitch = RetrySwitch()
    short_duration: ShortDurationRetry = ShortDurationRetry()
    provider_error: ErrorRetry = ErrorRetry()
    internal_error: ErrorRetry = ErrorRetry()


class RetryConfig(BaseModel):
    max_retries: int = Field(
        default=0, ge=0, le=MAX_RETRIES, description="Retries after the first attempt"
    )
    retry_on: RetryOn = RetryOn()
    retry_interval_minutes: float | list[float] = Field(
        default_factory=list,
        description="Minutes before each retry: a number, or a list (the n-th retry waits "
        "the n-th, the last repeating)",
    )

    @field_validator("retry_interval_minutes")
    @classmethod
    def _positive(cls, v: float | list[float]) -> float | list[float]:
        values = v if isinstance(v, list) else [v]
        if any(not 0 < m <= MAX_RETRY_MINUTES for m in values):
            raise PydanticCustomError(
                "interval",
                f"every interval must be more than 0 and at most {MAX_RETRY_MINUTES:g} minutes",
            )
        if len(values) > MAX_RETRIES:
            # the n-th retry waits the n-th: more than the largest budget is never read
            raise PydanticCustomError(
                "interval", f"must list at most {MAX_RETRIES} intervals (one per retry)"
            )
        return v


class ConnectionConfig(BaseModel):
    connection_id: str = Field(min_length=1)
    phone_numbers: list[str] = Field(min_length=1)
    weight: int = Field(default=1, ge=1, le=1000)

    @field_validator("phone_numbers")
    @classmethod
    def _numbers(cls, v: list[str]) -> list[str]:
        return [phone_e164(p) for p in v]


class WebhookConfig(BaseModel):
    url: str = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s@]+(/\S*)?$", v):
            raise PydanticCustomError(
                "url", "must be an absolute http or https URL without credentials"
            )
        return v


class AgentConfig(BaseModel):
    app_id: str = Field(min_length=1)
    app_version: Int32 | None = Field(default=None, ge=1)
    attempts_per_second: float = Field(default=2, ge=0.1, le=500)
    connection_configs: list[ConnectionConfig] = Field(default_factory=list)
    retry_config: RetryConfig = RetryConfig()
    app_type: Literal["agent"] = "agent"
    webhook_config: WebhookConfig | None = None


class CampaignCreateRequest(BaseModel):
    """Create a campaign. (Named apart from Volubile's CreateCampaignRequest, which the same
    OpenAPI document carries.)"""

    name: str = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=150)
    app_config: AgentConfig
    start_timestamp: BoundedInstant
    end_timestamp: BoundedInstant
    allowed_schedule: AllowedScheduleConfig
    webhook_config: WebhookConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _campaign_name(v)


class CampaignUpdateRequest(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=150)
    app_config: AgentConfig | None = None
    end_timestamp: BoundedInstant | None = None
    allowed_schedule: AllowedScheduleConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _campaign_name(v)


class CampaignMetadata(BaseModel):
    """Summary metadata for a campaign, returned in list responses."""

    name: str
    campaign_id: str
    status: Status
    app_id: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    app_type: Literal["agent", "workflow"] = "agent"
    app_version: int | None = None
    updated_by: str | None = None


class CampaignDetail(CampaignMetadata):
    app_config: AgentConfig
    start_timestamp: datetime | None
    end_timestamp: datetime | None
    allowed_schedule: AllowedScheduleConfig
    webhook_config: WebhookConfig | None = None


class CampaignList(BaseModel):
    items: list[CampaignMetadata]
    total: int
    limit: int
    offset: int
    next_page_uri: str | None
    prev_page_uri: str | None


class UpdateStatusRequest(BaseModel):
    action: Literal["pause", "resume", "cancel"] = Field(description="The new status to set")


class StreamUser(BaseModel):
    #: checked row by row: an invalid number rejects that user, not the whole request
    user_phone_number: str = Field(min_length=1, max_length=32)
    user_identifier: str | None = Field(default=None, max_length=200)
    app_variables: dict[str, Any] = Field(default_factory=dict)
    app_overrides: dict[str, Any] = Field(default_factory=dict)


class StreamCohortRequest(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    users: list[StreamUser] = Field(min_length=1, max_length=1000)


class CohortResult(BaseModel):
    total_records: int
    valid_records: int
    rejected_records: int


class Cohort(BaseModel):
    name: str
    cohort_id: str
    status: Literal["processing", "completed", "failed"]
    source_type: Literal["file_upload", "stream"]
    result: CohortResult
    failure_reason: str | None = None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = None


class CohortList(BaseModel):
    items: list[Cohort]
    total: int


class WebhookDelivery(BaseModel):
    attempt_id: str | None
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    deliveries: int
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


class RetryWebhooksRequest(BaseModel):
    attempt_ids: list[str] = Field(min_length=1, max_length=200)


class RetryWebhooksResponse(BaseModel):
    accepted: int = Field(
        description="Deliveries queued again (duplicates removed, running ones skipped)"
    )


class ErrorDetail(BaseModel):
    """Every error that is not a validation error (FastAPI's shape)."""

    detail: str
