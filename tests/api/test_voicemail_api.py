"""The native voicemail endpoint as a client uses it, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from ringcast.core.model import VoicemailAction, VoicemailPolicy
from ringcast.core.outcomes import Outcome
from ringcast.core.retry import SHARED_RULE, RetryRule
from ringcast.core.states import CampaignStatus
from ringcast.services import accounts

from . import test_sarvam_campaigns as sarvam
from .conftest import Account
from .test_volubile_auth import bearer, token
from .test_volubile_campaigns import valid_body

DEFAULT = {
    "action": "agent",
    "message_text": None,
    "message_audio_url": None,
    "retry_on_voicemail": False,
    "retry_on_rejected": False,
}


def url(campaign_id: str) -> str:
    return f"/ringcast/v1/campaigns/{campaign_id}/voicemail"


def volubile_campaign(client, account: Account, retry: dict[str, Any] | None = None) -> str:
    body = valid_body(account.agent_id)
    if retry is not None:
        body["retry"] = retry
    r = client.post("/v1/campaigns", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_round_trip_through_the_stored_config(client, runtime, account: Account) -> None:
    """What PUT sets, GET reads back from the stored config: the policy with the campaign's
    config, and the two retries as outcomes of its shared ``retry`` rule."""
    campaign_id = volubile_campaign(client, account)  # retryOn NO_ANSWER, callback_requested
    assert client.get(url(campaign_id), headers=account.headers).json() == DEFAULT
    wanted = {
        "action": "leave_message",
        "message_text": "Bonjour, rappelez-nous au 01 23 45 67 89.",
        "message_audio_url": None,
        "retry_on_voicemail": True,
        "retry_on_rejected": True,
    }
    r = client.put(url(campaign_id), json=wanted, headers=account.headers)
    assert r.status_code == 200, r.text
    assert r.json() == wanted
    assert client.get(url(campaign_id), headers=account.headers).json() == wanted
    stored = runtime.store.get_campaign(campaign_id)
    assert stored.config.voicemail == VoicemailPolicy(
        VoicemailAction.LEAVE_MESSAGE, message_text=wanted["message_text"]
    )
    assert stored.config.retry.max_retries == 2
    assert stored.config.retry.rules == (
        RetryRule(
            SHARED_RULE,
            frozenset({Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL, Outcome.REJECTED}),
            frozenset({"callback_requested"}),
        ),
    )
    audio = {**DEFAULT, "action": "leave_message", "message_audio_url": "https://cdn.ex.com/m.mp3"}
    r = client.put(url(campaign_id), json=audio, headers=account.headers)
    assert r.status_code == 200 and r.json() == audio
    after = runtime.store.get_campaign(campaign_id).config.retry.rules
    assert after[0].outcomes == {Outcome.NO_ANSWER, Outcome.BUSY}  # what Volubile asked for stays
    assert client.get(f"/v1/campaigns/{campaign_id}", headers=account.headers).status_code == 200


def test_each_vendor_body_reads_in_its_own_words(client, account: Account, clock) -> None:
    """A Sarvam campaign with no_answer on retries voicemail but, busy on or not, never a
    declined call; a Volubile campaign with VOICE_BOX and REJECTED retries both."""
    made = sarvam.create(client, account, clock)
    got = client.get(url(made["campaign_id"]), headers=account.headers).json()
    assert got["retry_on_voicemail"] is True and got["retry_on_rejected"] is False
    retry = {"max": 1, "delay": 2, "retryOn": ["VOICE_BOX", "REJECTED"]}
    campaign_id = volubile_campaign(client, account, retry)
    got = client.get(url(campaign_id), headers=account.headers).json()
    assert got["retry_on_voicemail"] is True and got["retry_on_rejected"] is True


def test_another_tenants_campaign_is_404_like_an_unknown_one(
    client, runtime, clock, account: Account, other_account: Account
) -> None:
    """Another organization's campaign, or one in another workspace of the same
    organization, reads exactly like an id that does not exist, for GET and PUT."""
    campaign_id = volubile_campaign(client, account)
    elsewhere = accounts.issue_key(runtime.store, clock, "acme", "sales")
    same_org_other_ws = {"X-Api-Key": elsewhere.plaintext}
    unknown = client.get(url("no-such-campaign"), headers=account.headers)
    assert unknown.status_code == 404
    for headers in (other_account.headers, same_org_other_ws):
        got = client.get(url(campaign_id), headers=headers)
        assert (got.status_code, got.json()) == (404, unknown.json())
        put = client.put(url(campaign_id), json={**DEFAULT, "action": "hangup"}, headers=headers)
        assert (put.status_code, put.json()) == (404, unknown.json())
    assert client.get(url(campaign_id), headers=account.headers).json() == DEFAULT


TOO_LONG = "x" * 1001
BAD_BODIES = [
    ("unknown action", {"action": "voicemail"}, "action", "voicemail"),
    ("leave_message without a message", {"action": "leave_message"}, "message_text", None),
    (
        "leave_message with both",
        {"action": "leave_message", "message_text": "hi", "message_audio_url": "https://a.b/c"},
        "message_audio_url",
        "https://a.b/c",
    ),
    (
        "ftp audio",
        {"action": "leave_message", "message_audio_url": "ftp://a.b/c.mp3"},
        "message_audio_url",
        "ftp://a.b/c.mp3",
    ),
    (
        "audio without a host",
        {"action": "leave_message", "message_audio_url": "https:///c.mp3"},
        "message_audio_url",
        "https:///c.mp3",
    ),
    (
        "text too long",
        {"action": "leave_message", "message_text": TOO_LONG},
        "message_text",
        TOO_LONG,
    ),
    ("blank text", {"action": "leave_message", "message_text": "  "}, "message_text", "  "),
    (
        "a message hangup never plays",
        {"action": "hangup", "message_text": "hi"},
        "message_text",
        "hi",
    ),
    ("not a bool", {"retry_on_voicemail": "sometimes"}, "retry_on_voicemail", "sometimes"),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "value"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
def test_bad_input_is_a_422_naming_the_field_and_value(
    client, runtime, account: Account, case: str, change: dict[str, Any], field: str, value: Any
) -> None:
    """Each bad value is refused with a 422 naming its field and the value sent, and the
    stored settings stay as they were."""
    campaign_id = volubile_campaign(client, account)
    r = client.put(url(campaign_id), json={**DEFAULT, **change}, headers=account.headers)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", field]
    # a long value comes back as a bounded excerpt of itself
    shown = value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    assert detail["input"] == shown
    assert client.get(url(campaign_id), headers=account.headers).json() == DEFAULT


def test_a_missing_switch_is_a_422_not_a_silent_off(client, account: Account) -> None:
    """PUT takes the whole settings: leaving a retry switch out is refused, never read as
    false (which would drop a retry the campaign has)."""
    campaign_id = volubile_campaign(client, account)
    body = {k: v for k, v in DEFAULT.items() if k != "retry_on_rejected"}
    r = client.put(url(campaign_id), json=body, headers=account.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "retry_on_rejected"]


def test_a_retry_the_budget_never_allows_is_refused(client, account: Account) -> None:
    """Turning a retry on for a campaign whose retry budget is 0 is a 422 naming the switch;
    turning it off, or keeping what it has, is fine."""
    campaign_id = volubile_campaign(client, account, {"max": 0})
    r = client.put(
        url(campaign_id), json={**DEFAULT, "retry_on_rejected": True}, headers=account.headers
    )
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert (detail["loc"], detail["input"]) == (["body", "retry_on_rejected"], True)
    assert "max_retries is 0" in detail["msg"]
    ok = client.put(url(campaign_id), json={**DEFAULT, "action": "hangup"}, headers=account.headers)
    assert ok.status_code == 200


def test_a_finished_campaign_is_a_409(client, runtime, clock, account: Account) -> None:
    """A cancelled or ended campaign's settings can be read but no longer changed."""
    campaign_id = volubile_campaign(client, account)
    runtime.store.set_campaign_status(campaign_id, CampaignStatus.CANCELLED, clock.now())
    r = client.put(url(campaign_id), json={**DEFAULT, "action": "hangup"}, headers=account.headers)
    assert r.status_code == 409
    assert "cancelled" in r.json()["detail"]
    assert client.get(url(campaign_id), headers=account.headers).json() == DEFAULT


def test_scopes(client, account: Account) -> None:
    """Reading needs campaigns:read and changing needs campaigns:write."""
    campaign_id = volubile_campaign(client, account)
    reader = bearer(token(client, account, ["campaigns:read"]))
    writer = bearer(token(client, account, ["campaigns:write"]))
    change = {**DEFAULT, "action": "hangup"}
    assert client.get(url(campaign_id), headers=reader).status_code == 200
    assert client.put(url(campaign_id), json=change, headers=reader).status_code == 403
    assert client.get(url(campaign_id), headers=writer).status_code == 403
    assert client.put(url(campaign_id), json=change, headers=writer).status_code == 200
