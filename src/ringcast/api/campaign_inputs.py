"""What a forecast starts from: a create body in either dialect, and its recipients.

The body is read by the same schemas and translations the API surfaces use, so a body
the API would refuse is refused here with the same field names. ``ringcast simulate``
(through ``cli.inputs``) and the dashboard's forecast page both read their inputs here.
"""

from __future__ import annotations

import csv
import importlib.resources
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import phonenumbers

from ringcast.api.sarvam import schemas as sarvam_schemas
from ringcast.api.sarvam import translate as sarvam
from ringcast.api.volubile import schemas as volubile_schemas
from ringcast.api.volubile import translate as volubile
from ringcast.core.pacing import PacingLimits
from ringcast.services.campaigns import NewCampaign, Recipient

ORG = "forecast"
WORKSPACE = "forecast"


class InputError(ValueError):
    """A body or contact file the forecast cannot use; the message names what and where."""


def new_campaign(body: Mapping[str, Any], pacing_defaults: PacingLimits) -> NewCampaign:
    """The campaign a client would create with ``body``, Volubile's or Sarvam's."""
    if not isinstance(body, Mapping):
        raise InputError("the campaign file must hold one JSON object")
    if "app_config" in body or "allowed_schedule" in body:
        req = sarvam_schemas.CampaignCreateRequest.model_validate(dict(body))
        return sarvam.new_campaign(req, ORG, WORKSPACE, "forecast")
    if "agentId" in body or "timeSlots" in body:
        vreq = volubile_schemas.CreateCampaignRequest.model_validate(dict(body))
        return volubile.new_campaign(vreq, ORG, WORKSPACE, "forecast", pacing_defaults)
    raise InputError(
        "the campaign file is neither a Volubile CreateCampaignRequest (agentId, timeSlots, "
        "days, ...) nor a Sarvam create body (app_config, allowed_schedule, ...)"
    )


def read_csv(path: Path) -> Iterator[Recipient]:
    """Recipients from a CSV with a ``phone`` column; the other columns are context."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        yield from read_csv_lines(f, str(path))


def read_csv_lines(lines: Iterable[str], where: str) -> Iterator[Recipient]:
    """``read_csv`` over lines of text (an upload, a pasted list); ``where`` names them
    in a refusal (``where:line``)."""
    reader = csv.DictReader(lines)
    if reader.fieldnames is None or "phone" not in reader.fieldnames:
        raise InputError(f"{where}: no 'phone' column in the header")
    for line, row in enumerate(reader, start=2):
        phone = _e164(row.pop("phone") or "", f"{where}:{line}")
        context = {k: v for k, v in row.items() if k and v not in (None, "")}
        yield Recipient(phone, context)


def _e164(raw: str, where: str) -> str:
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        raise InputError(f"{where}: phone {raw!r} is not an E.164 number") from None
    if not phonenumbers.is_valid_number(number):
        raise InputError(f"{where}: phone {raw!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def generated(count: int, zone: str) -> list[Recipient]:
    """``count`` distinct valid mobile numbers of the country of ``zone`` (US if unknown).

    They vary the last digits of ``phonenumbers``' example number, so they are valid
    and stable from one run to the next.
    """
    region = _country_of_zone().get(zone, "US")
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        example = phonenumbers.example_number_for_type("US", phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    free = min(7, len(national) - 2)  # digits to vary, keeping the operator prefix
    head = national[:-free]
    out: list[Recipient] = []
    for i in range(10**free):
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code, national_number=int(f"{head}{i:0{free}d}")
        )
        if phonenumbers.is_valid_number(candidate):
            out.append(
                Recipient(
                    phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
                )
            )
            if len(out) == count:
                return out
    raise InputError(f"cannot generate {count} numbers for {region}; give a CSV instead")


@cache
def _country_of_zone() -> dict[str, str]:
    """IANA zone -> ISO country, from the tz database's own ``zone.tab``."""
    text = (importlib.resources.files("tzdata.zoneinfo") / "zone.tab").read_text()
    table: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, zone, *_ = line.split("\t")
            table[zone] = country
    table.setdefault("Asia/Calcutta", "IN")
    return table
