"""Calls as the API surfaces read them back."""

from __future__ import annotations

from ringcast.core.errors import NotFound
from ringcast.ports import CallLog
from ringcast.records import CallRecord


def get(store: CallLog, org_id: str, call_id: str) -> CallRecord:
    """The organization's call by its attempt id; another organization's reads as missing."""
    call = store.get_call(call_id)
    if call is None or call.org_id != org_id:
        raise NotFound("call", call_id)
    return call
