"""Volubile's wire format, field for field as its documentation (the seeds) gives it.

Field names are Volubile's own camelCase. Validators here check form (types, ranges, E.164,
IANA zones, HH:mm); rules that need the database (the agent) live in the service.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ringcast.api.bounded import BoundedDate
from ringcast.core.retry import MAX_RETRY_INTERVAL
from ringcast.core.windows import FRENCH_CALLING_SLOTS, Slot, clip_slots

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: The longest ``retry.delay``, in hours: the core's bound on any retry interval (a week).
MAX_RETRY_DELAY_HOURS = int(MAX_RETRY_INTERVAL.total_seconds() // 3600)

#: Ids and labels (agent ids, retry conditions) are at most this long.
MAX_ID_CHARS = 100


class Day(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class CampaignStatusValue(StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"


class Scope(StrEnum):
    CALLS_READ = "calls:read"
    CALLS_WRITE = "calls:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    AGENTS_READ = "agents:read"
    AGENTS_WRITE = "agents:write"
    INTEGRATIONS_READ = "integrations:read"
    INTEGRATIONS_WRITE = "integrations:write"


def fail(
    kind: str, message: str, *, field: str | None = None, value: Any = None
) -> PydanticCustomError:
    """A validation error; ``field``/``value`` name a nested value a list validator found."""
    context = {"field": field, "value": value} if field else None
    return PydanticCustomError(kind, message, context)


def parse_hhmm(value: str) -> time:
    if not _HHMM.match(value):
        raise fail("time_format", "must be a time of day as HH:mm (00:00 to 23:59)")
    return time.fromisoformat(value)


def e164(value: str) -> str:
    """The number in E.164, or an error: it must already be written in E.164."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise fail("phone", "must be a phone number in E.164 format, e.g. +33612345678") from None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if formatted != value or not phonenumbers.is_valid_number(number):
        raise fail("phone", "must be a valid phone number in E.164 format, e.g. +33612345678")
    return formatted


class TimeSlot(BaseModel):
    startTime: str = Field(
        description="Start of the time slot. Format: 'HH:mm'", examples=["10:30"]
    )
    endTime: str = Field(description="End of the time slot. Format: 'HH:mm'", examples=["12:30"])

    @field_validator("startTime")
    @classmethod
    def _start(cls, v: str) -> str:
        parse_hhmm(v)
        return v

    @field_validator("endTime")
    @classmethod
    def _end(cls, v: str, info: ValidationInfo) -> str:
        end = parse_hhmm(v)
        start = info.data.get("startTime")
        if start is not None and parse_hhmm(start) >= end:
            raise fail("slot_order", "must be after startTime")
        return v

    def slot(self) -> Slot:
        return Slot(parse_hhmm(self.startTime), parse_hhmm(self.endTime))


class Retry(BaseModel):
    """Retry parameters when the contact cannot be reached."""

    max: int | None = Field(
        default=None, ge=0, le=3, description="Maximum number of retries, 0 to 3"
    )
    # validate_default: "required when max > 0" must also fire when the field is omitted
    delay: int | None = Field(
        default=None,
        le=MAX_RETRY_DELAY_HOURS,
        validate_default=True,
        description=f"Minimum delay between retries, in hours (1 to {MAX_RETRY_DELAY_HOURS})",
    )
    retryOn: list[Annotated[str, Field(max_length=MAX_ID_CHARS)]] | None = Field(
        default=None,
        max_length=50,
        validate_default=True,
        description="Call statuses and qualifier labels that trigger a retry",
    )

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: int | None, info: ValidationInfo) -> int | None:
        if (info.data.get("max") or 0) > 0 and (v is None or v < 1):
            raise fail("retry_delay", "must be at least 1 (hours) when max is greater than 0")
        if v is not None and v > MAX_RETRY_DELAY_HOURS:
            # refused even when max is 0: it is stored and shown back, and a later change
            # of max must not bring a delay no calendar holds to life
            raise fail("retry_delay", f"must be at most {MAX_RETRY_DELAY_HOURS} (hours)")
        return v

    @field_validator("retryOn")
    @classmethod
    def _retry_on(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if (info.data.get("max") or 0) > 0 and not v:
            raise fail("retry_on", "must not be empty when max is greater than 0")
        if v is not None and any(not s.strip() for s in v):
            raise fail("retry_on", "must not contain blank conditions")
        return v


class RetryView(BaseModel):
    """Retry as a campaign shows it: every field filled, as the seed types them (an omitted
    ``max`` is 0; ``delay`` and ``retryOn`` then read 1 and [], their "no retry" values)."""

    max: int = Field(description="Maximum number of retries, 0 to 3")
    delay: int = Field(description="Minimum delay between retries, in hours")
    retryOn: list[str] = Field(description="Call statuses and qualifier labels that retry")

    @classmethod
    def of(cls, retry: Retry) -> RetryView:
        return cls(max=retry.max or 0, delay=retry.delay or 1, retryOn=retry.retryOn or [])


class CreateCampaignRecipientRequest(BaseModel):
    phone: str = Field(description="Phone number to call, in E.164", examples=["+33612345678"])
    context: dict[str, Any] | None = Field(
        default=None,
        description="Values for the agent prompt's {{ placeholders }}; unknown keys are ignored",
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        return e164(v)


class CreateCampaignRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="Name of the campaign")
    agentId: str = Field(
        max_length=MAX_ID_CHARS, description="Unique identifier of the OUTBOUND agent"
    )
    startDate: BoundedDate = Field(
        description="Start date of the campaign", examples=["2024-07-30"]
    )
    timeSlots: list[TimeSlot] = Field(
        min_length=1,
        max_length=2,
        description="Calls are placed only in these slots, clipped to 10:00-13:00 and 14:00-20:00",
    )
    batchSize: int = Field(ge=1, le=1000, description="The number of calls per day, 1 to 1000")
    retry: Retry | None = None
    days: list[Day] = Field(min_length=1, description="Days of the campaign")
    recipients: list[CreateCampaignRecipientRequest] | None = Field(
        default=None, min_length=1, max_length=1000, description="Recipients to call, 1 to 1000"
    )
    timezone: str | None = Field(
        default=None, description="IANA time zone", examples=["Europe/Paris"]
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise fail("blank", "must not be blank")
        return v

    @field_validator("timeSlots")
    @classmethod
    def _slots_meet_legal_hours(cls, v: list[TimeSlot]) -> list[TimeSlot]:
        for i, s in enumerate(v):
            if not clip_slots([s.slot()], FRENCH_CALLING_SLOTS):
                raise fail(
                    "slot_outside_hours",
                    "lies entirely outside the allowed hours 10:00-13:00 and 14:00-20:00",
                    field=f"timeSlots[{i}]",
                    value=s.model_dump(),
                )
        return v

    @field_validator("recipients")
    @classmethod
    def _no_duplicate_phones(
        cls, v: list[CreateCampaignRecipientRequest] | None
    ) -> list[CreateCampaignRecipientRequest] | None:
        seen: dict[str, int] = {}
        for i, r in enumerate(v or []):
            if r.phone in seen:
                raise fail(
                    "duplicate_phone",
                    f"repeats recipients[{seen[r.phone]}].phone: each number once per campaign",
                    field=f"recipients[{i}].phone",
                    value=r.phone,
                )
            seen[r.phone] = i
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None and v not in zoneinfo.available_timezones():
            raise fail("timezone", "must be an IANA time zone, e.g. Europe/Paris")
        return v


class CampaignResponse(BaseModel):
    id: str
    name: str
    agentId: str
    startDate: date
    timeSlots: list[TimeSlot]
    batchSize: int
    retry: RetryView
    days: list[Day]
    status: CampaignStatusValue
    timezone: str


class ValidationError(BaseModel):
    """List of specific validation errors."""

    field: str = Field(description="Field in error")
    rejectedValue: Any = Field(default=None, description="Value in error")
    message: str = Field(description="Description of the failed validation")


class ErrorResponse(BaseModel):
    timestamp: str = Field(description="UTC time, yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
    status: int
    message: str
    errors: list[ValidationError] | None = None


class AuthTokenRequest(BaseModel):
    scope: list[Scope] = Field(min_length=1)


class AuthTokenResponse(BaseModel):
    token: str
    expiresIn: int
    tokenType: Literal["Bearer"] = "Bearer"


class SipConnection(BaseModel):
    did: str | None = None


class TelephonyConfiguration(BaseModel):
    phoneNumbers: list[str] = []
    sipConnection: SipConnection | None = None


class AgentConfiguration(BaseModel):
    extractors: list[dict[str, Any]] = []
    classifiers: list[dict[str, Any]] = []


class Agent(BaseModel):
    id: str
    name: str
    type: Literal["INBOUND", "OUTBOUND"]
    active: bool
    recordable: bool
    archived: bool
    telephonyConfiguration: TelephonyConfiguration
    configuration: AgentConfiguration


class AgentPage(BaseModel):
    content: list[Agent]
    size: int
    page: int
    totalElements: int
    totalPages: int


class PatchAgentRequest(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    active: bool | None = None
    recordable: bool | None = None
    archived: bool | None = None


class NameValue(BaseModel):
    name: str
    value: Any = None


class Classifier(BaseModel):
    name: str
    value: Any = None
    type: Literal["PRIMARY", "SECONDARY"] = "PRIMARY"


CallStatus = Literal[
    "IN_PROGRESS", "CANCELED", "COMPLETED", "NO_ANSWER", "VOICE_BOX",
    "UNREACHABLE", "FAILED", "TRANSFERRED", "REJECTED",
]  # fmt: skip


#: Who picked up a call, as the provider's answering-machine detection said.
AnsweredBy = Literal["human", "machine", "fax", "unknown"]


class Call(BaseModel):
    id: str
    agentId: str
    phone: str
    type: Literal["INBOUND", "OUTBOUND"] = "OUTBOUND"
    anonymous: bool = False
    status: CallStatus
    duration: int | None = None
    startTime: str | None = None
    endTime: str | None = None
    created: str
    recorded: bool = False
    summary: str | None = None
    context: dict[str, Any] = {}
    extractors: list[NameValue] = []
    extractedData: dict[str, Any] = {}
    classifiers: list[Classifier] = []
    classificationData: dict[str, Any] = {}
    campaignId: str | None = None
    campaignName: str | None = None
    # ringcast's own, beside the seed's fields: the provider's evidence on the call
    answeredBy: AnsweredBy | None = Field(
        default=None,
        description="Who picked up, as the provider's answering-machine detection said; "
        "null when it gave no evidence",
    )
    providerCode: str | None = Field(
        default=None,
        description="The provider's own code for how the call ended (a Twilio CallStatus, "
        "a SIP status, Retell's disconnection_reason); null when unknown",
    )


class CallPage(BaseModel):
    content: list[Call]
    size: int
    page: int
    totalElements: int
    totalPages: int


class TranscriptEntry(BaseModel):
    action: Literal[
        "RING", "ANSWER", "HUMAN_SPEAK", "AGENT_SPEAK", "ANSWERING_MACHINE_BEEP",
        "HANG_UP", "TRANSFER_CALL",
    ]  # fmt: skip
    time: str
    actor: Literal["UNKNOWN", "HUMAN", "AGENT", "ANSWERING_MACHINE"]
    message: str | None = None


class CreateCallRecipient(BaseModel):
    phone: str
    context: dict[str, Any] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        return e164(v)


class CreateCallRequest(BaseModel):
    agentId: str = Field(max_length=MAX_ID_CHARS)
    recipient: CreateCallRecipient


class AccountWebhook(BaseModel):
    """ringcast's admin setting for Volubile's account webhook (not part of Volubile's API)."""

    url: str | None = Field(description="Receives the call object when a call completes or fails")
    secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 key for X-Webhook-Signature; generated when omitted",
    )


class AccountWebhookView(BaseModel):
    url: str | None
    secret: str | None = Field(default=None, description="Shown only in the response that sets it")
