"""The config's top-level ``engine:`` section: where work that profiles do not cover runs.

```yaml
engine:
  kind: spark            # local (the default) | spark
  master: local[4]       # any Spark master URL: local[N], spark://host:7077, yarn, k8s://...
  conf:                  # passed to SparkSession.builder.config, as strings
    spark.executor.memory: 4g
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evalctl.errors import ConfigError
from evalctl.settings.values import config_section

KINDS = ("local", "spark")
_KEYS = {"kind", "master", "conf"}


@dataclass(frozen=True)
class EngineSettings:
    """Which engine `--engine auto` falls back to, and how to reach it."""

    kind: str = "local"
    master: str | None = None  # None: the session's own default (spark-submit's --master)
    conf: dict[str, str] = field(default_factory=dict)


def parse_engine(raw: Any) -> EngineSettings:
    """Validate the ``engine:`` mapping (absent: the local engine)."""
    raw = config_section("engine", raw, _KEYS)
    if raw is None:
        return EngineSettings()
    kind = raw.get("kind", "local")
    if kind not in KINDS:
        raise ConfigError(f"engine.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    master = raw.get("master")
    if master is not None and (not isinstance(master, str) or not master.strip()):
        raise ConfigError(f"engine.master: expected a Spark master URL string, got {master!r}")
    conf = raw.get("conf") or {}
    if not isinstance(conf, dict):
        raise ConfigError(f"engine.conf: expected a mapping of Spark settings, got "
                          f"{type(conf).__name__}")
    for key, value in conf.items():
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"engine.conf.{key}: expected a string or number, got "
                              f"{type(value).__name__}")
    shown = {str(k): (str(v).lower() if isinstance(v, bool) else str(v))
             for k, v in conf.items()}
    return EngineSettings(kind=kind, master=master, conf=shown)
