"""Hypothesis profiles for the fuzz tests.

`make test` runs the bounded default profile (derandomized: the same inputs every run, well under a
minute). CERTOPS_FUZZ=long selects the long run (`make fuzz`): random inputs, each test's own budget
from fuzzlib.examples(), at least 100,000 inputs in total.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile("default", derandomize=True, deadline=None, suppress_health_check=_SLOW_OK,
                          print_blob=True, database=None)
settings.register_profile("long", derandomize=False, deadline=None, suppress_health_check=_SLOW_OK,
                          print_blob=True, database=None)
settings.load_profile("long" if os.environ.get("CERTOPS_FUZZ") == "long" else "default")
