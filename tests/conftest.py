"""Shared test setup: a clean environment and a reproducible Hypothesis profile."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Tests build their Settings explicitly; a developer's RINGCAST_* variables must not leak in.
for _name in [n for n in os.environ if n.startswith("RINGCAST_")]:
    del os.environ[_name]

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
