"""What a forecast starts from: a create body in either dialect, and its recipients.

The rules live in ``api.campaign_inputs``, where the dashboard's forecast page reads its
inputs too; this module keeps the names the command line has always used.
"""

from __future__ import annotations

from ringcast.api.campaign_inputs import (
    ORG,
    WORKSPACE,
    InputError,
    generated,
    new_campaign,
    read_csv,
    read_csv_lines,
)

__all__ = [
    "ORG",
    "WORKSPACE",
    "InputError",
    "generated",
    "new_campaign",
    "read_csv",
    "read_csv_lines",
]
