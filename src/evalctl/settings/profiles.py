"""The model keys `reference:` (the monitoring reference, a selector) and `profiles:` (the
time granularity of the profiles written at ingest), validated at load (README: "Profiles")."""

from __future__ import annotations

from typing import Any

from evalctl.errors import ConfigError, SelectorError
from evalctl.lake.selectors import parse_selector
from evalctl.settings.sections import PROFILE_GRANULARITIES, ProfileSettings
from evalctl.settings.values import config_section


def parse_profile_settings(key: str, reference: Any, profiles: Any) -> ProfileSettings:
    """`models.<m>.reference` and `models.<m>.profiles` as `ProfileSettings`; every error
    names the key path."""
    if reference is not None:
        if not isinstance(reference, str):
            raise ConfigError(f"{key}.reference: expected a selector such as "
                              f"training:v1@2026-09-01..2026-10-15, got {reference!r}")
        if "last-" in reference:
            raise ConfigError(f"{key}.reference: {reference!r} moves every day; the monitoring "
                              "reference is frozen, so give fixed dates")
        try:
            parse_selector(reference)
        except SelectorError as exc:
            raise ConfigError(f"{key}.reference: {exc}") from None
    section = config_section(f"{key}.profiles", profiles, {"granularity"}) or {}
    granularity = section.get("granularity", ProfileSettings.granularity)
    if granularity not in PROFILE_GRANULARITIES:
        raise ConfigError(f"{key}.profiles.granularity: expected one of "
                          f"{', '.join(PROFILE_GRANULARITIES)}, got {granularity!r}")
    return ProfileSettings(reference=reference.strip() if reference else None,
                           granularity=granularity)
