"""Shared fixtures: a tiny config, a store, a frame generator and a CLI runner."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from evalctl.cli.app import run

# plain tables are $COLUMNS wide: the tests expect the default width whatever the shell says
os.environ.pop("COLUMNS", None)

CONFIG = """\
store: store
models:
  churn:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      age: numeric
      country: categorical
      minutes: numeric
    proxies: [clicked]
    slices:
      - feature: age
        bins: [0, 25, 40, 120]
      - feature: country
"""


SCHEMA_PATH = Path(__file__).parents[1] / "src" / "evalctl" / "schemas" / "report.schema.json"


def schema_registry() -> Any:
    """Every schema shipped in the package (evalctl/schemas/*.json), by its `$id`: `$schema`
    and `$ref`s resolve locally, without the network."""
    from importlib.resources import files

    from referencing import Registry, Resource

    folder = files("evalctl") / "schemas"
    resources = [Resource.from_contents(json.loads(f.read_text()))
                 for f in folder.iterdir() if f.name.endswith(".json")]
    return Registry().with_resources((r.id(), r) for r in resources)


def validate_envelope(doc: dict[str, Any]) -> None:
    """Validate a report or error envelope against the schema its `$schema` names (the
    command's own, which includes the envelope)."""
    import jsonschema

    registry = schema_registry()
    schema = registry.contents(doc["$schema"])
    jsonschema.Draft202012Validator(schema, registry=registry,
                                    format_checker=jsonschema.FormatChecker()).validate(doc)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """The JSON report, validated against its command's schema (so every test that reads
        a report also checks the contract, on its own edge case)."""
        doc: dict[str, Any] = json.loads(self.stdout)
        validate_envelope(doc)
        return doc

    def no_report(self) -> bool:
        """Nothing but the JSON error envelope on stdout (a pipe gets JSON; an error writes
        `status: "error"` with the same exit code), and that envelope is valid."""
        envelope = json.loads(self.stdout)
        validate_envelope(envelope)
        return (envelope["status"] == "error" and envelope["results"] == []
                and envelope["error"]["exit_code"] == self.code)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with evalctl.yaml and an initialised store."""
    (tmp_path / "evalctl.yaml").write_text(CONFIG)
    return tmp_path


@pytest.fixture
def cli(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run the CLI in ``workdir`` exactly as the entry point does."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("EVALCTL_CONFIG", raising=False)
    monkeypatch.delenv("EVALCTL_STORE", raising=False)

    def invoke(*args: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        code = run([str(a) for a in args], stdout=out, stderr=err)
        return CliResult(code, out.getvalue(), err.getvalue())

    assert invoke("init", "store", "--no-config").code == 0
    return invoke


def make_frame(n: int = 200, seed: int = 0, start: datetime = datetime(2026, 11, 1),
               days: int = 4, prefix: str = "r") -> pl.DataFrame:
    """Predictions spread over ``days`` days, with some nulls in features."""
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    age = rng.integers(16, 80, n).astype(float)
    age[rng.random(n) < 0.05] = np.nan
    step = timedelta(days=days) / n
    return pl.DataFrame({
        "request_id": [f"{prefix}{i:05d}" for i in range(n)],
        "ts": [start + i * step for i in range(n)],
        "age": age,
        "country": rng.choice(["US", "BR", "DE"], n),
        "minutes": rng.gamma(2.0, 30.0, n),
        "score": score,
        "predicted_label": (score >= 0.5).astype(int),
        "label": (rng.random(n) < score).astype(int),
        "clicked": rng.integers(0, 2, n),
    }).with_columns(pl.col("age").fill_nan(None))


@pytest.fixture
def frame_file(workdir: Path) -> Callable[..., Path]:
    """Write a frame in a chosen format and return its path."""

    def write(df: pl.DataFrame, name: str) -> Path:
        path = workdir / name
        if name.endswith(".csv"):
            df.write_csv(path)
        elif name.endswith(".jsonl"):
            df.write_ndjson(path)
        else:
            df.write_parquet(path)
        return path

    return write


def store_snapshot(root: Path) -> dict[str, int]:
    """Every file below the store with its size (to prove a failed command changed nothing)."""
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in sorted(root.rglob("*")) if p.is_file()}


REPO = Path(__file__).resolve().parents[1]
STORY_CONFIG = REPO / "configs" / "evalctl.yaml"
STORY_INGESTS = [
    ("training.parquet", "v1", "training"), ("validation_v1.parquet", "v1", "validation"),
    ("validation_v2.parquet", "v2", "validation"), ("production_v1.csv", "v1", "production"),
    ("shadow_v2.jsonl", "v2", "shadow"), ("recomputed_v2_training.parquet", "v2", "training"),
]


def _run(*args: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    code = run([str(a) for a in args], stdout=out, stderr=err)
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def story(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CliResult]:
    """The sample story (scaled down) ingested into a store; returns a CLI runner for it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sample_generate",
                                                  REPO / "sample_data" / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    data = tmp_path_factory.mktemp("story_data")
    generator.generate(data, seed=7, rows_per_day=600, scale=0.5, verbose=False)
    store = tmp_path_factory.mktemp("story") / "store"
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    assert _run("init", str(store), "--no-config").code == 0
    for name, version, env in STORY_INGESTS:
        result = _run(*base, "ingest", str(data / name), "--model", "tv-recommender",
                      "--version", version, "--env", env)
        assert result.code == 0, result.stderr
    assert _run(*base, "ingest-actuals", str(data / "actuals_late.csv"), "--model",
                "tv-recommender").code == 0

    def invoke(*args: str) -> CliResult:
        return _run(*base, *args)

    invoke.store = store  # type: ignore[attr-defined]
    invoke.data = data  # type: ignore[attr-defined]
    return invoke


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current renderers")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/<name>; `pytest --update-golden` rewrites the file."""
    folder = Path(__file__).parent / "golden"

    def check(name: str, text: str) -> None:
        path = folder / name
        if request.config.getoption("--update-golden"):
            folder.mkdir(exist_ok=True)
            path.write_text(text)
            return
        assert path.exists(), f"{path} missing: run pytest --update-golden"
        assert text == path.read_text(), f"{name} differs (pytest --update-golden to accept)"

    return check
