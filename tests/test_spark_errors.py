"""Issue #19: the Spark engine's refusals, which need neither Spark nor Java: a missing
`evalctl[spark]` extra, a missing or old Java, a bad `engine:` config. Each is exit 2 with
one line, the store unchanged."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers import SPARK_CONFIG, CliResult, make_frame, store_snapshot

from evalctl.engines.settings import EngineSettings, parse_engine
from evalctl.engines.spark import java_problem
from evalctl.errors import ConfigError

CONFIG = SPARK_CONFIG
M = ["--model", "churn"]


@pytest.fixture
def stored(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path]
           ) -> Callable[..., CliResult]:
    (workdir / "evalctl.yaml").write_text(CONFIG.format(engine=""))
    for env in ("training", "production"):
        done = cli("ingest", str(frame_file(make_frame(300, seed=len(env)), f"{env}.parquet")),
                   *M, "--version", "v1", "--env", env)
        assert done.code == 0, done.stderr
    return cli


@pytest.mark.parametrize("args", [["profiles", "build", *M, "--engine", "spark"],
                                  ["skew", *M, "--current", "production", "--engine", "spark"],
                                  ["drift", *M, "--current", "production", "--engine", "spark"]])
def test_without_the_extra_engine_spark_is_exit_2_naming_it(
        stored: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch,
        args: list[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` raises ImportError
    before = store_snapshot(workdir / "store")
    done = stored(*args)
    assert done.code == 2
    line = done.stderr.strip().splitlines()[0]
    assert "--engine spark: pyspark is not installed" in line and "evalctl[spark]" in line
    assert store_snapshot(workdir / "store") == before


def test_the_config_engine_spark_makes_auto_need_the_extra(
        stored: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir / "evalctl.yaml").write_text(CONFIG.format(
        engine="engine:\n  kind: spark\n  master: local[2]\n"))
    monkeypatch.setitem(sys.modules, "pyspark", None)
    assert "evalctl[spark]" in stored("skew", *M, "--current", "production").stderr
    assert stored("skew", *M, "--current", "production", "--engine", "scan").code in (0, 1)


@pytest.mark.spark  # needs pyspark installed (make test-spark), to get as far as Java
def test_without_java_engine_spark_is_one_line(
        stored: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyspark  # noqa: F401  # the extra must be there: this test is about Java
    monkeypatch.setenv("JAVA_HOME", str(workdir / "no-jdk"))
    done = stored("skew", *M, "--current", "production", "--engine", "spark")
    assert done.code == 2
    assert done.stderr.strip().splitlines()[0].endswith(
        "--engine spark: Java 17 or later is needed and `java` was not found (PATH, JAVA_HOME)")


def test_java_versions(tmp_path: Path) -> None:
    def fake(version: str, code: int = 0) -> str:
        path = tmp_path / f"java-{abs(hash(version))}"
        path.write_text(f"#!/bin/sh\necho '{version}' >&2\nexit {code}\n")
        path.chmod(0o755)
        return str(path)

    assert java_problem(fake('openjdk version "17.0.15" 2025-04-15')) is None
    assert java_problem(fake('openjdk version "21" 2023-09-19')) is None
    assert "is Java 11" in str(java_problem(fake('openjdk version "11.0.2" 2019-01-15')))
    assert "is Java 8" in str(java_problem(fake('java version "1.8.0_202"')))
    assert "failed (exit 1)" in str(java_problem(fake("Error: no JVM", 1)))
    assert "was not found" in str(java_problem(str(tmp_path / "missing")))


def test_engine_config() -> None:
    assert parse_engine(None) == EngineSettings()
    parsed = parse_engine({"kind": "spark", "master": "spark://head:7077",
                           "conf": {"spark.executor.memory": "4g", "spark.ui.enabled": False,
                                    "spark.executor.cores": 2}})
    assert parsed == EngineSettings("spark", "spark://head:7077",
                                    {"spark.executor.memory": "4g", "spark.ui.enabled": "false",
                                     "spark.executor.cores": "2"})
    for raw, message in [({"kind": "dask"}, "engine.kind: expected one of local, spark"),
                         ({"kind": "spark", "mastr": "x"}, "engine.mastr: unknown key"),
                         ({"master": ""}, "engine.master: expected a Spark master URL"),
                         ({"conf": ["a"]}, "engine.conf: expected a mapping"),
                         ({"conf": {"a": [1]}}, "engine.conf.a: expected a string or number"),
                         ("spark", "engine: expected a mapping")]:
        with pytest.raises(ConfigError, match=message):
            parse_engine(raw)


def test_a_bad_engine_config_is_exit_2(stored: Callable[..., CliResult], workdir: Path) -> None:
    (workdir / "evalctl.yaml").write_text(CONFIG.format(engine="engine:\n  kind: dask\n"))
    done = stored("skew", *M, "--current", "production")
    assert done.code == 2 and "engine.kind: expected one of local, spark" in done.stderr
