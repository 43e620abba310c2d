"""`${VAR}` references in a webhook's URL and headers: checked before a run, expanded only when
a notification is sent, and redacted from every message that could show them."""

from __future__ import annotations

from collections.abc import Mapping

from evalctl.errors import ConfigError
from evalctl.settings.alerts import ENV_REFERENCE, AlertSettings

REDACTED = "***"


def check_variables(key: str, settings: AlertSettings, env: Mapping[str, str]) -> None:
    """Every variable the webhooks name must be set (and not empty): a ConfigError naming
    the first missing one (never a value)."""
    for i, hook in enumerate(settings.webhooks):
        for name in hook.variables:
            if not env.get(name):
                raise ConfigError(
                    f"{key}.webhooks[{i}] ({hook.name}): environment variable {name} is not "
                    "set", key=f"{key}.webhooks[{i}]",
                    hint=f"export {name}=… where monitor runs, or pass --no-notify")


class Secrets:
    """Expands templates from ``env`` and remembers every value it put in, so that
    `redact` can take them out of any text (an error message quoting the URL)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._values: set[str] = set()

    def expand(self, template: str) -> str:
        def value(match: object) -> str:
            name = match.group(1)  # type: ignore[attr-defined]
            found = self._env.get(name)
            if not found:
                raise ConfigError(f"environment variable {name} is not set")
            self._values.add(found)
            return found

        expanded = ENV_REFERENCE.sub(value, template)
        if expanded != template:
            self._values.add(expanded)
        return expanded

    def redact(self, text: str) -> str:
        for secret in sorted(self._values, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text
