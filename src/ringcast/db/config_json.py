"""A campaign's core configuration as the JSON stored in ``campaigns.config``, and back.

The columns a campaign has of its own (id, status, span) are not in the JSON: reading
takes them as arguments. A config stored by an older version reads with the defaults of
the fields it lacks (``tests/unit/test_config_json.py``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from ringcast.core.model import (
    CampaignConfig,
    PredialHook,
    Schedule,
    VoicemailAction,
    VoicemailPolicy,
)
from ringcast.core.outcomes import Outcome
from ringcast.core.pacing import PacingLimits
from ringcast.core.retry import RetryPolicy, RetryRule
from ringcast.core.routing import Route
from ringcast.core.states import CampaignStatus
from ringcast.core.windows import Slot, WeeklyWindow

Json = dict[str, Any]


def config_to_json(config: CampaignConfig) -> Json:
    """The parts of a config that do not live in columns of their own (id, status, span)."""
    w = config.schedule.weekly
    p = config.pacing
    return {
        "window": {
            "zone": w.zone,
            "slots": [[s.start.isoformat(), s.end.isoformat()] for s in w.slots],
            "days": sorted(w.days),
            "first_date": w.first_date.isoformat() if w.first_date else None,
            "last_date": w.last_date.isoformat() if w.last_date else None,
            "excluded_dates": sorted(d.isoformat() for d in w.excluded_dates),
        },
        "pacing": {
            "attempts_per_second": p.attempts_per_second,
            "calls_per_day": p.calls_per_day,
            "max_concurrent": p.max_concurrent,
            "day_zone": p.day_zone,
        },
        "routes": [
            {
                "connection_id": r.connection_id,
                "caller_numbers": list(r.caller_numbers),
                "weight": r.weight,
            }
            for r in config.routes
        ],
        "policy": config.policy,
        "predial": None
        if config.predial is None
        else {
            "url": config.predial.url,
            "timeout_s": config.predial.timeout.total_seconds(),
            "retry_after_s": config.predial.retry_after.total_seconds(),
        },
        "retry": {
            "max_retries": config.retry.max_retries,
            "intervals_s": [i.total_seconds() for i in config.retry.intervals],
            "rules": [_rule_to_json(r) for r in config.retry.rules],
        },
        "voicemail": {
            "action": config.voicemail.action.value,
            "message_text": config.voicemail.message_text,
            "message_audio_url": config.voicemail.message_audio_url,
        },
    }


def config_from_json(
    campaign_id: str,
    status: str,
    data: Json,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> CampaignConfig:
    w, p, r = data["window"], data["pacing"], data["retry"]
    weekly = WeeklyWindow(
        zone=w["zone"],
        slots=tuple(Slot(time.fromisoformat(a), time.fromisoformat(b)) for a, b in w["slots"]),
        days=frozenset(w["days"]),
        first_date=date.fromisoformat(w["first_date"]) if w["first_date"] else None,
        last_date=date.fromisoformat(w["last_date"]) if w["last_date"] else None,
        excluded_dates=frozenset(date.fromisoformat(d) for d in w["excluded_dates"]),
    )
    return CampaignConfig(
        id=campaign_id,
        status=CampaignStatus(status),
        schedule=Schedule(weekly, starts_at=starts_at, ends_at=ends_at),
        pacing=PacingLimits(**p),
        retry=RetryPolicy(
            max_retries=r["max_retries"],
            intervals=tuple(timedelta(seconds=s) for s in r["intervals_s"]),
            rules=tuple(_rule_from_json(x) for x in r["rules"]),
        ),
        # rows written before routing existed have no "routes"
        routes=tuple(
            Route(x["connection_id"], tuple(x["caller_numbers"]), x["weight"])
            for x in data.get("routes", [])
        ),
        policy=data.get("policy"),
        predial=_predial(data.get("predial")),
        voicemail=_voicemail(data.get("voicemail")),
    )


def _predial(data: Json | None) -> PredialHook | None:
    if not data:
        return None
    return PredialHook(
        data["url"],
        timeout=timedelta(seconds=data["timeout_s"]),
        retry_after=timedelta(seconds=data["retry_after_s"]),
    )


def _voicemail(data: Json | None) -> VoicemailPolicy:
    # rows written before voicemail policies existed have none: the agent handles it
    if not data:
        return VoicemailPolicy()
    return VoicemailPolicy(
        VoicemailAction(data["action"]),
        message_text=data.get("message_text"),
        message_audio_url=data.get("message_audio_url"),
    )


def _rule_to_json(rule: RetryRule) -> Json:
    return {
        "name": rule.name,
        "outcomes": sorted(o.value for o in rule.outcomes),
        "qualifiers": sorted(rule.qualifiers),
        "shorter_than_s": rule.shorter_than.total_seconds() if rule.shorter_than else None,
        "max_retries": rule.max_retries,
        "intervals_s": None
        if rule.intervals is None
        else [i.total_seconds() for i in rule.intervals],
    }


def _rule_from_json(data: Json) -> RetryRule:
    return RetryRule(
        name=data["name"],
        outcomes=frozenset(Outcome(o) for o in data["outcomes"]),
        qualifiers=frozenset(data["qualifiers"]),
        shorter_than=None
        if data["shorter_than_s"] is None
        else timedelta(seconds=data["shorter_than_s"]),
        max_retries=data["max_retries"],
        intervals=None
        if data["intervals_s"] is None
        else tuple(timedelta(seconds=s) for s in data["intervals_s"]),
    )
