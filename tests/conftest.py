"""Test configuration shared by the whole suite.

Hypothesis profiles:
- ``ci`` (default): no deadline, derandomised, a bounded number of examples.
- ``thorough``: ten times the examples, still derandomised:
  ``pytest --hypothesis-profile=thorough``.
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("ci", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=250, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
