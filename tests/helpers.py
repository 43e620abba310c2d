"""Helpers shared by the test files: configs, frame generators, a CLI runner, the JSON contract.

Test files import from here, never from one another or from conftest (which only defines the
fixtures, built on these helpers).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from evalctl.cli.app import run

REPO = Path(__file__).resolve().parents[1]
STORY_CONFIG = REPO / "configs" / "evalctl.yaml"
STORY_INGESTS = [
    ("training.parquet", "v1", "training"), ("validation_v1.parquet", "v1", "validation"),
    ("validation_v2.parquet", "v2", "validation"), ("production_v1.csv", "v1", "production"),
    ("shadow_v2.jsonl", "v2", "shadow"), ("recomputed_v2_training.parquet", "v2", "training"),
]

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


def run_cli(*args: str) -> CliResult:
    """Run the CLI in-process exactly as the entry point does, capturing both streams."""
    out, err = io.StringIO(), io.StringIO()
    code = run([str(a) for a in args], stdout=out, stderr=err)
    return CliResult(code, out.getvalue(), err.getvalue())


def commands() -> list[str]:
    """Every command's path below `evalctl`, subcommands of groups included (`config check`)."""
    import typer

    from evalctl.cli.app import app

    def walk(command: Any, prefix: str) -> list[str]:
        subs = getattr(command, "commands", None)
        if not subs:
            return [prefix]
        return [p for name, sub in subs.items() for p in walk(sub, f"{prefix} {name}".strip())]

    return sorted(walk(typer.main.get_command(app), ""))


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


def store_snapshot(root: Path) -> dict[str, int]:
    """Every file below the store with its size (to prove a failed command changed nothing)."""
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in sorted(root.rglob("*")) if p.is_file()}


def missing_minutes(cli: Callable[..., CliResult], frame_file: Callable[..., Path],
                    share: float = 0.3) -> None:
    """Training as usual; production with `share` of `minutes` missing, values unchanged."""
    prod = make_frame(2000, seed=2, prefix="p")
    gone = pl.Series(np.random.default_rng(5).random(prod.height) < share)
    prod = prod.with_columns(pl.when(gone).then(None).otherwise(pl.col("minutes"))
                             .alias("minutes"))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "training",
        str(frame_file(make_frame(2000, seed=1, prefix="t"), "t.parquet")))
    cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
        str(frame_file(prod, "p.parquet")))


RCA_CHURN = ["rca", "--model", "churn", "--baseline", "production@2026-11-01..2026-11-04",
             "--current", "production@2026-11-05..2026-11-08", "--format", "json"]


def write_window(frame_file: Callable[..., Path], cli: Callable[..., CliResult], n: int,
                 seed: int, start: datetime, *, young: float, noise: float = 0.0,
                 minutes_scale: float = 1.0, unit: float = 1.0, labelled: bool = True) -> None:
    """A window of the `churn` model: accuracy ~0.75, coin flips for the young (age < 25),
    plus `noise` (share of all labels randomised: concept drift); the young's minutes times
    `minutes_scale`, everybody's times `unit` (a unit bug)."""
    rng = np.random.default_rng(seed)
    is_young = rng.random(n) < young
    score = rng.random(n)
    label = np.where(is_young, rng.random(n) < 0.5, rng.random(n) < score)
    label = np.where(rng.random(n) < noise, rng.random(n) < 0.5, label).astype(int)
    minutes = rng.gamma(2.0, 30.0, n) * np.where(is_young, minutes_scale, 1.0) * unit
    frame = pl.DataFrame({
        "request_id": [f"s{seed}-{i}" for i in range(n)],
        "ts": np.datetime64(start, "us") + (np.arange(n) * (3 * 86_400_000_000 // n))
        .astype("timedelta64[us]"),
        "age": np.where(is_young, rng.integers(16, 25, n), rng.integers(25, 80, n)) * 1.0,
        "country": rng.choice(["US", "BR", "DE"], n), "minutes": minutes,
        "score": score, "predicted_label": (score >= 0.5).astype(int),
        "label": label if labelled else [None] * n, "clicked": rng.integers(0, 2, n)})
    path = frame_file(frame, f"w{seed}.parquet")
    assert cli("ingest", "--model", "churn", "--version", "v1", "--env", "production",
               path).code == 0


def shaped(command: str, row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every key its result shape requires and it lacks set to None: hand-made rows
    for renderer tests (a `Report` refuses rows that do not fit their shape)."""
    from evalctl.reports.shapes import shape_for

    shape = shape_for(command, row.get("section"))
    return row | {key: None for key in sorted(shape.required - row.keys())}


# -- a multiclass model with its class probabilities (issue #21) ------------------------------

CARDS = {"prepaid_card": "p_prepaid", "highstreet_card": "p_highstreet",
         "upmarket_card": "p_upmarket"}
MULTICLASS_CONFIG = """\
  cards:
    task: multiclass_classification
    id: request_id
    timestamp: ts
    prediction: predicted_card
    scores: {prepaid_card: p_prepaid, highstreet_card: p_highstreet, upmarket_card: p_upmarket}
    label: card
    features:
      income: numeric
      channel: categorical
"""


def make_multiclass_frame(n: int = 600, seed: int = 0, start: datetime = datetime(2026, 11, 1),
                          days: int = 4, prefix: str = "m", drift: bool = False
                          ) -> pl.DataFrame:
    """The `cards` model's predictions: softmax probabilities of the income (rounded to 4
    places, summing to 1), the most probable class predicted, the label drawn from the
    probabilities (calibrated by construction) or, with ``drift``, from the probabilities of
    the next class (P(label | probabilities) changed: concept drift)."""
    rng = np.random.default_rng(seed)
    income = rng.gamma(3.0, 15.0, n)
    logits = np.column_stack([2.0 - income / 15, np.zeros(n), income / 20 - 2.5])
    logits += rng.normal(0.0, 1.0, (n, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probs = np.round(probs, 4)
    probs[:, 1] = np.clip(1.0 - probs[:, 0] - probs[:, 2], 0.0, 1.0)
    draw = np.roll(probs, 1, axis=1) if drift else probs
    label = (rng.random(n)[:, None] > np.cumsum(draw, axis=1)).sum(axis=1).clip(0, 2)
    names = np.array(list(CARDS))
    step = timedelta(days=days) / n
    return pl.DataFrame({
        "request_id": [f"{prefix}{i:05d}" for i in range(n)],
        "ts": [start + i * step for i in range(n)],
        "income": income, "channel": rng.choice(["web", "branch", "app"], n),
        "predicted_card": names[probs.argmax(axis=1)], "card": names[label],
        **{column: probs[:, k] for k, column in enumerate(CARDS.values())},
    })
