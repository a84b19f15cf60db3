"""Moved to ``ringcast.cli.inputs``: reading a vendor's create body needs the API's
schemas, and the forecast sits below the API.

This re-export stays only for importers outside this change (tests/forecast/scenarios.py,
tests/forecast/test_invariants.py, bench/forecast.py); delete it once they import
``ringcast.cli.inputs``.
"""

from ringcast.cli.inputs import InputError, generated, new_campaign, read_csv

__all__ = ["InputError", "generated", "new_campaign", "read_csv"]
