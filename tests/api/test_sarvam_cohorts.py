"""Sarvam cohorts: JSON streams and CSV uploads with good, bad and mixed rows."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

import pytest

from ringcast.core.model import ContactState

from .conftest import Account
from .test_sarvam_campaigns import base, create

SLOW = os.environ.get("SLOW_TESTS") == "1"
MAPPING = {
    "phone_number": {"column_name": "mobile"},
    "user_identifier": {"column_name": "customer_id", "required": True},
    "app_variables": {
        "firstName": {"column_name": "name"},
        "orderNumber": {"column_name": "order"},
    },
    "app_overrides": {"initial_language_name": {"column_name": "language"}},
}


@pytest.fixture
def campaign(client, account: Account, clock) -> str:
    return create(client, account, clock)["campaign_id"]


def url(account: Account, campaign: str, tail: str = "") -> str:
    return f"{base(account)}/campaigns/{campaign}/cohorts{tail}"


def csv_bytes(
    rows: list[list[str]], header=("mobile", "customer_id", "name", "order", "language")
) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def upload(client, account: Account, campaign: str, data: bytes, mapping=MAPPING, name="batch-1"):
    return client.post(
        url(account, campaign, "/upload"),
        data={"name": name},
        files={
            "cohort_file": ("people.csv", data, "text/csv"),
            "cohort_transformation_file": (
                "map.json",
                json.dumps(mapping).encode(),
                "application/json",
            ),
        },
        headers=account.headers,
    )


def test_stream_good_bad_and_repeated(client, runtime, account: Account, campaign: str) -> None:
    """Valid users are queued; an invalid or repeated number rejects only that user."""
    users = [
        {
            "user_phone_number": "+919876543210",
            "user_identifier": "c1",
            "app_variables": {"firstName": "Asha"},
        },
        {"user_phone_number": "9876543211", "user_identifier": "c2"},  # 10-digit Indian, normalised
        {"user_phone_number": "12345", "user_identifier": "c3"},
        {"user_phone_number": "+91 98765 43210", "user_identifier": "c4"},  # same as c1
    ]
    r = client.post(
        url(account, campaign, "/stream"),
        json={"name": "s1", "users": users},
        headers=account.headers,
    )
    assert r.status_code == 202, r.text
    cohort = r.json()
    assert cohort["status"] == "completed" and cohort["source_type"] == "stream"
    assert cohort["result"] == {"total_records": 4, "valid_records": 2, "rejected_records": 2}
    assert runtime.store.count_contacts(campaign) == {ContactState.WAITING: 2}
    again = client.post(
        url(account, campaign, "/stream"),
        json={"name": "s2", "users": users[:1]},
        headers=account.headers,
    ).json()
    assert again["result"]["rejected_records"] == 1  # already in the campaign
    assert (
        client.post(
            url(account, campaign, "/stream"),
            json={"name": "s3", "users": []},
            headers=account.headers,
        ).status_code
        == 422
    )


def test_upload_mixed_rows(client, runtime, account: Account, campaign: str) -> None:
    """Good rows become contacts; bad rows land in rejected_records with their reason."""
    data = csv_bytes(
        [
            ["+919876543210", "c1", "Asha", "A1", "Hindi"],
            ["not-a-number", "c2", "Ravi", "A2", ""],
            ["+919876543212", "", "Meera", "A3", ""],  # required customer_id empty
            ["+919876543210", "c4", "Dup", "A4", ""],  # repeated in this file
            ["9876543214", "c5", "Kiran", "A5", "Tamil"],
        ]
    )
    r = upload(client, account, campaign, data)
    assert r.status_code == 202, r.text
    cohort_id = r.json()["cohort_id"]
    got = client.get(url(account, campaign, f"/{cohort_id}"), headers=account.headers).json()
    assert got["status"] == "completed"
    assert got["result"] == {"total_records": 5, "valid_records": 2, "rejected_records": 3}
    rejected = client.get(
        url(account, campaign, f"/{cohort_id}/files"),
        params={"file_type": "rejected_records"},
        headers=account.headers,
    )
    assert rejected.status_code == 200 and rejected.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejected.text)))
    assert [r["customer_id"] for r in rows] == ["c2", "", "c4"]
    assert all(r["rejected_reason"] for r in rows)
    assert "required" in rows[1]["rejected_reason"]
    original = client.get(
        url(account, campaign, f"/{cohort_id}/files"),
        params={"file_type": "cohort"},
        headers=account.headers,
    )
    assert original.content == data
    mapping = client.get(
        url(account, campaign, f"/{cohort_id}/files"),
        params={"file_type": "cohort_transformation"},
        headers=account.headers,
    )
    assert mapping.json() == MAPPING
    contacts = runtime.store.count_contacts(campaign)
    assert contacts == {ContactState.WAITING: 2}
    listed = client.get(url(account, campaign), headers=account.headers).json()
    assert listed["total"] == 1 and listed["items"][0]["cohort_id"] == cohort_id


@pytest.mark.parametrize(
    ("data", "mapping", "field"),
    [
        (
            csv_bytes(
                [["+919876543210", "c1", "A", "B", "C"]],
                header=("phone", "customer_id", "name", "order", "language"),
            ),
            MAPPING,
            "cohort_file",
        ),
        (csv_bytes([]), MAPPING, "cohort_file"),
        (b"", MAPPING, "cohort_file"),
        (
            csv_bytes([["+919876543210", "c1", "A", "B", "C"]]),
            {**MAPPING, "app_overrides": {"voice": {"column_name": "language"}}},
            "cohort_transformation_file.app_overrides",
        ),
        (
            csv_bytes([["+919876543210", "c1", "A", "B", "C"]]),
            {**MAPPING, "app_variables": {"balance": {"column_name": "order"}}},
            "cohort_transformation_file.app_variables",
        ),
        (
            csv_bytes([["+919876543210", "c1", "A", "B", "C"]]),
            {"user_identifier": {"column_name": "customer_id"}},
            "cohort_transformation_file.phone_number",
        ),
    ],
    ids=[
        "missing column",
        "no data row",
        "empty file",
        "unknown override",
        "undeclared variable",
        "no phone mapping",
    ],
)
def test_blocking_validation_rejects_the_whole_upload(
    client, runtime, account: Account, campaign: str, data, mapping, field
) -> None:
    """A blocking problem is a 422 naming it, and nothing is stored: no contact, no
    cohort, no file."""
    r = upload(client, account, campaign, data, mapping)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", *field.split(".")]
    assert runtime.store.count_contacts(campaign) == {}
    assert client.get(url(account, campaign), headers=account.headers).json()["total"] == 0
    assert not list((Path(runtime.settings.data_dir) / "cohorts").glob("*"))


def test_transformation_must_be_json(client, account: Account, campaign: str) -> None:
    """An upload whose transformation file is not JSON is a 422 naming that file."""
    r = client.post(
        url(account, campaign, "/upload"),
        data={"name": "x"},
        headers=account.headers,
        files={
            "cohort_file": (
                "p.csv",
                csv_bytes([["+919876543210", "c", "a", "b", "c"]]),
                "text/csv",
            ),
            "cohort_transformation_file": ("m.json", b"{not json", "application/json"),
        },
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == [
        "body",
        "cohort_transformation_file",
    ]


def test_contacts_only_while_the_campaign_can_call(
    client, runtime, account: Account, campaign: str, clock
) -> None:
    """Contacts may be added while scheduled, active or paused; not once cancelled."""
    client.put(
        f"{base(account)}/campaigns/{campaign}/status",
        json={"action": "cancel"},
        headers=account.headers,
    )
    r = client.post(
        url(account, campaign, "/stream"),
        json={"name": "late", "users": [{"user_phone_number": "+919876543210"}]},
        headers=account.headers,
    )
    assert r.status_code == 409 and "cancelled" in r.json()["detail"]


def test_webhook_deliveries_and_retry(client, account: Account, campaign: str) -> None:
    """The delivery list answers; a retry of up to 200 ids is accepted with 202."""
    w = f"{base(account)}/campaigns/{campaign}/webhooks"
    assert client.get(w, params={"limit": 1}, headers=account.headers).json() == {"items": []}
    r = client.post(f"{w}/retry", json={"attempt_ids": ["a", "a", "b"]}, headers=account.headers)
    assert r.status_code == 202 and r.json() == {"accepted": 0}
    too_many = client.post(
        f"{w}/retry", json={"attempt_ids": [str(i) for i in range(201)]}, headers=account.headers
    )
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    "rows",
    [
        12_000,  # two batches
        pytest.param(100_000, marks=pytest.mark.skipif(not SLOW, reason="set SLOW_TESTS=1")),
    ],
)
def test_upload_of_many_rows(client, runtime, account: Account, campaign: str, rows: int) -> None:
    """A large file (in several batches; the full size also by the pool of checking
    processes) is taken in full, each valid row once, with its few bad rows set aside."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(("mobile", "customer_id", "name", "order", "language"))
    for i in range(rows):
        phone = f"+9198{i:08d}" if i % 1000 else "bad"
        w.writerow((phone, f"c{i}", f"Person {i}", f"O{i}", "Hindi"))
    started = time.monotonic()
    r = upload(client, account, campaign, buf.getvalue().encode())
    elapsed = time.monotonic() - started
    assert r.status_code == 202, r.text
    got = client.get(
        url(account, campaign, f"/{r.json()['cohort_id']}"), headers=account.headers
    ).json()
    bad = rows // 1000
    assert got["result"] == {
        "total_records": rows,
        "valid_records": rows - bad,
        "rejected_records": bad,
    }
    assert runtime.store.count_contacts(campaign) == {ContactState.WAITING: rows - bad}
    print(f"{rows:,}-row upload processed in {elapsed:.1f} s")


def test_the_rejected_records_file_neutralises_formulas(
    client, account: Account, campaign: str
) -> None:
    """A rejected row whose cells would run as spreadsheet formulas (=, +, -, @) is
    written with each such cell quoted as text."""
    data = csv_bytes(
        [
            ["=cmd|' /C calc'!A0", "c1", '=HYPERLINK("http://evil","x")', "@SUM(1)", "-1+2"],
        ]
    )
    r = upload(client, account, campaign, data)
    assert r.status_code == 202, r.text
    rejected = client.get(
        url(account, campaign, f"/{r.json()['cohort_id']}/files"),
        params={"file_type": "rejected_records"},
        headers=account.headers,
    )
    (row,) = list(csv.DictReader(io.StringIO(rejected.text)))
    assert row["mobile"] == "'=cmd|' /C calc'!A0"
    assert row["name"] == '\'=HYPERLINK("http://evil","x")'
    assert (row["order"], row["language"]) == ("'@SUM(1)", "'-1+2")
    assert row["customer_id"] == "c1"
