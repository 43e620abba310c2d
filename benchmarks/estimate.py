"""Estimate benchmark (issue #21): `evalctl estimate` per task at 1,000,000 rows per side.

Each case generates a labelled reference (validation, 10 days) and a current selection
(production, 30 days, daily windows) of `--rows` rows each with full-precision model outputs
(so nearly every row is its own group), ingests both (not timed), then times
`evalctl estimate --format json` end to end (process start to report) and its peak RSS.
Cases, each in its own function (`CASES`):

* binary      CBPE on a binary classifier (the baseline)
* multiclass  one-vs-rest CBPE on a 3-class classifier (`scores:`); target <= 2x binary

Usage: python benchmarks/estimate.py [--rows 1000000] [--cases binary,multiclass]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from _common import Timing, evalctl_timed, ingest_frame  # noqa: E402

SIDES = (("validation", datetime(2026, 10, 1), 10, 1), ("production", datetime(2026, 11, 1), 30, 2))
ESTIMATE = ["estimate", "--reference", "validation", "--current", "production", "-f", "json"]


def _base(n: int, rng: np.random.Generator, start: datetime, days: int, prefix: str
          ) -> dict[str, object]:
    return {"request_id": pl.int_range(0, n, eager=True).cast(pl.String).str.replace(
                r"^", prefix),
            "ts": pl.Series(np.datetime64(start, "us") + (np.arange(n) * (
                days * 86_400_000_000 // n)).astype("timedelta64[us]")),
            "x": rng.normal(0.0, 1.0, n)}


def case_binary(work: Path, rows: int) -> Timing:
    """A binary classifier: score ~ U(0, 1), label ~ Bernoulli(score)."""
    (work / "evalctl.yaml").write_text(
        "store: store\nmodels:\n  binary:\n    task: binary_classification\n"
        "    id: request_id\n    timestamp: ts\n    prediction: predicted_label\n"
        "    score: score\n    label: label\n    features: {x: numeric}\n")
    for env, start, days, seed in SIDES:
        rng = np.random.default_rng(seed)
        score = rng.random(rows)
        frame = pl.DataFrame({**_base(rows, rng, start, days, env[0]), "score": score,
                              "predicted_label": (score >= 0.5).astype(np.int8),
                              "label": (rng.random(rows) < score).astype(np.int8)})
        ingest_frame(work, frame, env=env, model="binary")
    return evalctl_timed([*ESTIMATE, "--model", "binary"], cwd=work)


def case_multiclass(work: Path, rows: int) -> Timing:
    """A 3-class classifier: Dirichlet(1, 1, 1) probabilities, the argmax predicted, the label
    drawn from the probabilities."""
    (work / "evalctl.yaml").write_text(
        "store: store\nmodels:\n  multiclass:\n    task: multiclass_classification\n"
        "    id: request_id\n    timestamp: ts\n    prediction: predicted\n"
        "    scores: {a: p_a, b: p_b, c: p_c}\n    label: label\n"
        "    features: {x: numeric}\n")
    names = np.array(["a", "b", "c"])
    for env, start, days, seed in SIDES:
        rng = np.random.default_rng(seed)
        probs = rng.dirichlet(np.ones(3), rows)
        label = (rng.random(rows)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, 2)
        frame = pl.DataFrame({**_base(rows, rng, start, days, env[0]),
                              "p_a": probs[:, 0], "p_b": probs[:, 1], "p_c": probs[:, 2],
                              "predicted": names[probs.argmax(axis=1)], "label": names[label]})
        ingest_frame(work, frame, env=env, model="multiclass")
    return evalctl_timed([*ESTIMATE, "--model", "multiclass"], cwd=work)


CASES: dict[str, Callable[[Path, int], Timing]] = {
    "binary": case_binary,
    "multiclass": case_multiclass,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated, of {', '.join(CASES)}")
    args = parser.parse_args()
    chosen = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        raise SystemExit(f"--cases: unknown {', '.join(unknown)} (valid: {', '.join(CASES)})")
    timings = {}
    for name in chosen:
        work = Path(tempfile.mkdtemp(prefix=f"evalctl-bench-estimate-{name}-"))
        try:
            evalctl_timed(["init", "store", "--no-config"], cwd=work)
            print(f"{name}: generating and ingesting {args.rows:,} rows per side ...",
                  file=sys.stderr)
            timings[name] = CASES[name](work, args.rows)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"estimate benchmark: {args.rows:,} rows per side, 30 daily windows")
    for name, t in timings.items():
        ratio = (f"  ({t.seconds / timings['binary'].seconds:.2f}x binary)"
                 if "binary" in timings and name != "binary" else "")
        print(f"  {name:<11} {t.seconds:7.2f} s  peak RSS {t.peak_rss_mib:7,.0f} MiB{ratio}")


if __name__ == "__main__":
    main()
