"""Hypothesis budgets for the fuzz tests, and the profile ``bench/fuzz.py`` runs them under.

Each property has a small CI budget, so the fuzz tests run in seconds. Only
``bench/fuzz.py`` registers the :data:`PROFILE` profile; once it is registered
every property takes its settings from it instead (``--examples N``). Nothing
here loads a profile, so other tests never see it.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

PROFILE = "modeloci-fuzz"
# Generous but finite: an example takes milliseconds; a hang fails the test instead of stalling CI.
DEADLINE = timedelta(seconds=10)


def budget(examples: int, *, fixture: bool = False) -> settings:
    """``examples`` in CI, or the fuzz profile's settings once ``bench/fuzz.py`` has registered it.

    ``fixture`` allows a function-scoped fixture whose value is the same for every
    example (a path to read-only data), which Hypothesis otherwise refuses.
    """
    suppress = [HealthCheck.function_scoped_fixture] if fixture else []
    try:
        profile = settings.get_profile(PROFILE)
    except InvalidArgument:
        return settings(max_examples=examples, deadline=DEADLINE, suppress_health_check=suppress)
    return settings(profile, suppress_health_check=[*profile.suppress_health_check, *suppress])


def register_profile(examples: int, deadline: timedelta | None = DEADLINE) -> None:
    """Register and load the long fuzz profile (``bench/fuzz.py`` only)."""
    settings.register_profile(PROFILE, max_examples=examples, deadline=deadline, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.load_profile(PROFILE)
