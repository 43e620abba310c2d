"""Drift defaults from evidence (issue #15, items 1 and 4): planted shifts of known size.

Writes a reference and a current Parquet export per size (seeded numpy, in parts of at most
1M rows so memory stays bounded), ingests them into a temporary store, and judges every column
through the code `evalctl skew` runs: the bins fitted on the reference, one scan per side (the
reference scan grouped by chunk, so data-driven thresholds need no second pass), then
`judge_features` once per method -- the real measure, threshold, Benjamini-Hochberg and
quality-alert code. The defaults are also run end to end (`Workspace.skew`), and its statuses
must equal the defaults row.

Columns: planted shifts (the issue's list) and 23 unchanged columns of mixed kinds (heavy tails,
ties, nulls, 1,000-level categories, the model's prediction). Roles: ``material`` (must be
flagged: warn or fail), ``borderline`` (a warning is acceptable, a failure is not),
``negligible`` and ``unchanged`` (must pass). A method's verdict is its measure's own verdict
(`measure_status` when a data-quality alert raised the column; the end-to-end row keeps it).

Usage: python benchmarks/drift_defaults.py [--sizes 10000,100000,1000000,5000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import evalctl
from evalctl import api
from evalctl.analyses.common import checked_columns, open_side
from evalctl.analyses.skew import judge_features, reference_summaries
from evalctl.checks import MEASURES, compute_score, data_driven_threshold, resolve_measure
from evalctl.settings.sections import DriftSettings, FeatureRule
from evalctl.stats import fit_binning, summarize

SIZES = (10_000, 100_000, 1_000_000, 5_000_000)
PART_ROWS = 1_000_000
ROLES = ("material", "borderline", "negligible", "unchanged")
Draw = Callable[[np.random.Generator, int, bool], Any]  # (rng, rows, is_current) -> values
Verdicts = dict[str, tuple[str, float | None]]  # column -> (the measure's verdict, score)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    role: str
    draw: Draw
    shift: str = "unchanged"


def _normal(mean: float, sd: float, mean_cur: float | None = None,
            sd_cur: float | None = None) -> Draw:
    return lambda rng, n, cur: rng.normal(mean_cur if cur and mean_cur is not None else mean,
                                          sd_cur if cur and sd_cur is not None else sd, n)


def _with_nulls(draw: Draw, share: float) -> Draw:
    def drawn(rng: np.random.Generator, n: int, cur: bool) -> Any:
        values = np.asarray(draw(rng, n, cur), dtype=float)
        values[rng.random(n) < share] = np.nan  # written as null
        return values
    return drawn


def _categories(shares: list[float], shares_cur: list[float] | None = None,
                new_share: float = 0.0, new_levels: int = 100) -> Draw:
    """Category codes ``0..len(shares)-1``; the current may put `new_share` of its rows on
    `new_levels` codes the reference never had."""
    def drawn(rng: np.random.Generator, n: int, cur: bool) -> Any:
        p = np.asarray(shares_cur if cur and shares_cur is not None else shares, dtype=float)
        codes = rng.choice(len(p), size=n, p=p / p.sum())
        if cur and new_share:
            new = rng.random(n) < new_share
            codes[new] = len(p) + rng.integers(0, new_levels, int(new.sum()))
        return codes
    return drawn


def _zipf(levels: int) -> list[float]:
    weights = 1.0 / np.arange(1, levels + 1)
    return list(weights / weights.sum())


def _moved_share(levels: int, share: float) -> list[float]:
    """Level 0 takes `share`, the others split the rest evenly."""
    return [share] + [(1 - share) / (levels - 1)] * (levels - 1)


def _mixture(rng: np.random.Generator, n: int, cur: bool) -> Any:
    return np.where(rng.random(n) < 0.4, rng.normal(-2, 0.5, n), rng.normal(3, 1, n))


PLANTED = [
    Column("mean_shift_0.02sd", "numeric", "negligible", _normal(0, 1, 0.02), "mean +0.02 sd"),
    Column("mean_shift_0.1sd", "numeric", "borderline", _normal(0, 1, 0.1), "mean +0.1 sd"),
    Column("mean_shift_0.25sd", "numeric", "material", _normal(0, 1, 0.25), "mean +0.25 sd"),
    Column("sd_x1.03", "numeric", "negligible", _normal(5, 2, sd_cur=2.06), "sd x1.03"),
    Column("sd_x1.3", "numeric", "material", _normal(5, 2, sd_cur=2.6), "sd x1.3"),
    Column("uniform_support", "numeric", "material",
           lambda rng, n, cur: rng.uniform(10 if cur else 0, 110 if cur else 100, n),
           "uniform [0,100] -> [10,110]"),
    Column("count_poisson", "numeric", "material",
           _with_nulls(lambda rng, n, cur: rng.poisson(4 if cur else 3, n), 0.05),
           "Poisson(3) -> Poisson(4), 5% nulls"),
    Column("lognormal_sigma", "numeric", "material",
           lambda rng, n, cur: rng.lognormal(0, 0.65 if cur else 0.5, n),
           "log-normal sigma 0.5 -> 0.65"),
    Column("share_0.20_to_0.35", "categorical", "material",
           _categories(_moved_share(5, 0.20), _moved_share(5, 0.35)), "a share 0.20 -> 0.35"),
    Column("new_categories", "categorical", "material",
           _categories([1.0] * 1000, new_share=0.10), "10% in new levels of 1,000"),
    Column("share_0.20_to_0.21", "categorical", "negligible",
           _categories(_moved_share(5, 0.20), _moved_share(5, 0.21)), "a share 0.20 -> 0.21"),
]

UNCHANGED = [
    Column("u_normal", "numeric", "unchanged", _normal(10, 3)),
    Column("u_normal_nulls", "numeric", "unchanged", _with_nulls(_normal(0, 1), 0.2)),
    Column("u_exponential", "numeric", "unchanged", lambda rng, n, cur: rng.exponential(2, n)),
    Column("u_lognormal", "numeric", "unchanged", lambda rng, n, cur: rng.lognormal(0, 1, n)),
    Column("u_heavy_tail", "numeric", "unchanged", lambda rng, n, cur: rng.lognormal(0, 2, n)),
    Column("u_student_t3", "numeric", "unchanged", lambda rng, n, cur: rng.standard_t(3, n)),
    Column("u_age", "numeric", "unchanged", lambda rng, n, cur: rng.integers(18, 91, n)),
    Column("u_mostly_zero", "numeric", "unchanged", lambda rng, n, cur: rng.poisson(0.3, n)),
    Column("u_bimodal", "numeric", "unchanged", _mixture),
    Column("u_uniform", "numeric", "unchanged", lambda rng, n, cur: rng.uniform(-1, 1, n)),
    Column("u_flag", "numeric", "unchanged", lambda rng, n, cur: rng.random(n) < 0.3),
    Column("u_rounded", "numeric", "unchanged",
           lambda rng, n, cur: np.round(rng.normal(2, 0.5, n), 1)),
    Column("u_cat3", "categorical", "unchanged", _categories([0.6, 0.3, 0.1])),
    Column("u_cat5", "categorical", "unchanged", _categories([0.2] * 5)),
    Column("u_cat10_zipf", "categorical", "unchanged", _categories(_zipf(10))),
    Column("u_cat50", "categorical", "unchanged", _categories([1.0] * 50)),
    Column("u_cat1000", "categorical", "unchanged", _categories([1.0] * 1000)),
    Column("u_cat1000_zipf", "categorical", "unchanged", _categories(_zipf(1000))),
    Column("u_binary", "categorical", "unchanged", _categories([0.93, 0.07])),
    Column("u_cat_nulls", "categorical", "unchanged", _with_nulls(_categories([1.0] * 8), 0.1)),
    Column("u_rare_tail", "categorical", "unchanged",
           _categories([0.45, 0.45] + [0.1 / 200] * 200)),
    Column("u_cat20_nulls", "categorical", "unchanged",
           _with_nulls(_categories(_zipf(20)), 0.02)),
]
PREDICTION = Column("prediction", "numeric", "unchanged", _normal(0.4, 0.2))
COLUMNS = [*PLANTED, *UNCHANGED, PREDICTION]

# (row label, numeric method, categorical method, kinds counted, thresholds)
METHODS = [
    ("psi", "psi", "psi", ("numeric", "categorical"), "fixed"),
    ("wasserstein (W1 / std)", "wasserstein", None, ("numeric",), "fixed"),
    ("ks statistic", "ks", None, ("numeric",), "fixed"),
    ("jensen_shannon", "jensen_shannon", "jensen_shannon", ("numeric", "categorical"), "fixed"),
    ("hellinger", "hellinger", "hellinger", ("numeric", "categorical"), "fixed"),
    ("l_infinity", None, "l_infinity", ("categorical",), "fixed"),
    ("chi_square + BH", None, "chi_square", ("categorical",), "fixed"),
    ("defaults", None, None, ("numeric", "categorical"), "fixed"),
    ("defaults, reference_chunks", None, None, ("numeric", "categorical"), "reference_chunks"),
]


def config_text() -> str:
    lines = ["store: store", "models:", "  bench:", "    task: regression", "    id: request_id",
             "    timestamp: ts", "    prediction: prediction", "    label: label",
             "    features:"]
    lines += [f"      {c.name}: {c.kind}" for c in COLUMNS if c is not PREDICTION]
    return "\n".join(lines) + "\n"


def draw_part(rows: int, seed: int, current: bool, first_id: int) -> pl.DataFrame:
    """One part of one side: every column drawn from its own seeded stream."""
    start = np.datetime64("2026-11-01" if current else "2026-09-01", "us")
    step = 30 * 86_400_000_000 // max(rows, 1)
    data: dict[str, Any] = {
        "request_id": pl.int_range(first_id, first_id + rows, eager=True).cast(pl.String),
        "ts": pl.Series(start + (np.arange(rows) * step).astype("timedelta64[us]")),
    }
    for index, column in enumerate(COLUMNS):
        rng = np.random.default_rng([seed, int(current), index])
        values = column.draw(rng, rows, current)
        if column.kind == "categorical":
            codes = np.asarray(values, dtype=float)
            series = pl.Series(column.name, codes).fill_nan(None).cast(pl.Int64).cast(pl.String)
        else:
            series = pl.Series(column.name, np.asarray(values, dtype=float)).fill_nan(None)
        data[column.name] = series
    data["label"] = data["prediction"]
    return pl.DataFrame(data)


def build_store(work: Path, rows: int, seed: int = 15) -> evalctl.Workspace:
    """A store holding `rows` training and `rows` production rows, ingested part by part."""
    (work / "evalctl.yaml").write_text(config_text())
    api.init_store(work / "store", write_config=False)
    ws = evalctl.open(work / "evalctl.yaml", store=work / "store")
    for current, env in ((False, "training"), (True, "production")):
        paths = []
        for part, first in enumerate(range(0, rows, PART_ROWS)):
            n = min(PART_ROWS, rows - first)
            path = work / f"{env}-{part}.parquet"
            draw_part(n, seed + part, current, first + (rows if current else 0)
                      ).write_parquet(path)
            paths.append(path)
        ws.ingest("bench", paths, version="v1", env=env)
        for path in paths:
            path.unlink()
    return ws


def _verdicts(results: list[dict[str, Any]]) -> Verdicts:
    return {r["feature"]: (r.get("measure_status") or r["status"], r.get("score"))
            for r in results if r.get("section") == "distribution"}


def unfloored_rules(kinds: dict[str, str], ref: Any, chunks: list[Any]) -> DriftSettings:
    """The reference_chunks thresholds as they were before the floor (mean + k·std of the
    chunks' scores alone), as per-column rules, to show what the floor changes."""
    k = DriftSettings().k
    rules = {}
    for column, kind in kinds.items():
        measure = resolve_measure(kind)
        scores = [compute_score(ref[column], c[column], kind).value for c in chunks]
        rules[column] = FeatureRule(warn=data_driven_threshold(scores, k - 1),
                                    fail=data_driven_threshold(scores, k))
        if rules[column].fail is None:
            rules[column] = FeatureRule(warn=measure.warn, fail=measure.fail)
    return DriftSettings(features=rules)


def judge_methods(ws: evalctl.Workspace) -> dict[str, Verdicts]:
    """Per method row: column -> (the measure's verdict: pass | warn | fail | error, score)."""
    model = ws.model("bench")
    defaults = DriftSettings()
    _, ref_lf = open_side(ws.store, model, ws.selector("training"))
    _, cur_lf = open_side(ws.store, model, ws.selector("production"))
    kinds = checked_columns(model, defaults)
    binning = fit_binning(ref_lf, kinds, top_k=defaults.top_k)
    chunked = DriftSettings(thresholds="reference_chunks")
    ref, chunks = reference_summaries(ref_lf, binning, model, chunked)  # one grouped scan
    cur = summarize(cur_lf, binning)[None]
    verdicts = {}
    for label, numeric, categorical, counted, thresholds in METHODS:
        settings = DriftSettings(numeric=numeric, categorical=categorical,
                                 thresholds=thresholds)
        wanted = {c: k for c, k in kinds.items() if k in counted}
        results = judge_features(wanted, ref, cur, settings,
                                 chunks if thresholds == "reference_chunks" else None)
        for result in results:
            result["section"] = "distribution"
        verdicts[label] = _verdicts(results)
    before = judge_features(kinds, ref, cur, unfloored_rules(kinds, ref, chunks), None)
    verdicts["reference_chunks without the floor (before)"] = _verdicts(before)
    report = ws.skew("bench", current="production", reference="training")
    end_to_end = _verdicts(report.results)
    if {c: s for c, (s, _) in end_to_end.items()} != {
            c: s for c, (s, _) in verdicts["defaults"].items()}:
        raise SystemExit(f"end-to-end skew disagrees with the defaults row: {end_to_end}")
    verdicts["skew end to end (status)"] = {
        r["feature"]: (r["status"], r.get("score")) for r in report.results
        if r.get("section") == "distribution"}
    return verdicts


def confusion(verdicts: Verdicts) -> dict[str, int]:
    """Counts per role and verdict; `target` is 1 when the row meets the issue's target."""
    role = {c.name: c.role for c in COLUMNS}
    counts = {f"{r}_{s}": 0 for r in ROLES for s in ("pass", "warn", "fail", "error")}
    for column, (status, _) in verdicts.items():
        counts[f"{role[column]}_{status}"] += 1
    met = (counts["material_pass"] == 0 and counts["borderline_fail"] == 0
           and all(counts[f"{r}_{s}"] == 0 for r in ("negligible", "unchanged")
                   for s in ("warn", "fail"))
           and all(counts[f"{r}_error"] == 0 for r in ROLES))
    return counts | {"target": int(met)}


HEADER = ("| method | material fail / warn / missed | borderline pass / warn / fail | "
          "negligible flagged / passed | unchanged flagged / passed | target | "
          "weakest material | strongest negligible or unchanged |\n"
          "| --- | --- | --- | --- | --- | --- | --- | --- |")


def separation(verdicts: Verdicts, p_values: bool = False) -> tuple[float | None, float | None]:
    """The score of the least-shifted material column and of the most-shifted negligible or
    unchanged one (`p_values`: the largest material p and the smallest other, unadjusted)."""
    role = {c.name: c.role for c in COLUMNS}
    material = [s for c, (_, s) in verdicts.items() if role[c] == "material" and s is not None]
    quiet = [s for c, (_, s) in verdicts.items()
             if role[c] in ("negligible", "unchanged") and s is not None]
    weak, strong = (max, min) if p_values else (min, max)
    return (weak(material) if material else None), (strong(quiet) if quiet else None)


def table_row(label: str, verdicts: Verdicts) -> str:
    c = confusion(verdicts)
    weak, strong = separation(verdicts, p_values=label.startswith("chi_square"))
    flagged = {r: c[f"{r}_warn"] + c[f"{r}_fail"] for r in ROLES}
    errors = sum(c[f"{r}_error"] for r in ROLES)
    return (f"| {label} | {c['material_fail']} / {c['material_warn']} / {c['material_pass']} "
            f"| {c['borderline_pass']} / {c['borderline_warn']} / {c['borderline_fail']} "
            f"| {flagged['negligible']} / {c['negligible_pass']} "
            f"| {flagged['unchanged']} / {c['unchanged_pass']} "
            f"| {'met' if c['target'] else '**missed**'}"
            f"{f' ({errors} errors)' if errors else ''} | {_number(weak)} | {_number(strong)} |")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def measure_defaults() -> str:
    return ", ".join(f"{name} {MEASURES[name].warn:g}/{MEASURES[name].fail:g}"
                     for name in ("psi", "wasserstein", "ks", "jensen_shannon", "hellinger",
                                  "l_infinity", "chi_square"))


def run_size(rows: int, keep: Path | None = None) -> dict[str, Verdicts]:
    """Build the store for one size and judge it; the store is deleted unless `keep`."""
    work = (keep / f"rows-{rows}") if keep else Path(tempfile.mkdtemp(prefix="drift-defaults-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return judge_methods(build_store(work, rows))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES),
                        help="rows per side, comma-separated")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores here")
    parser.add_argument("--verbose", action="store_true", help="print every column's verdict")
    args = parser.parse_args()
    counted = {r: sum(c.role == r for c in COLUMNS) for r in ROLES}
    print(f"columns: {counted} · thresholds (warn/fail): {measure_defaults()}")
    for rows in (int(s) for s in args.sizes.split(",")):
        start = time.perf_counter()
        verdicts = run_size(rows, args.keep)
        print(f"\n{rows:,} rows per side ({time.perf_counter() - start:.0f} s)\n\n{HEADER}")
        for label, by_column in verdicts.items():
            print(table_row(label, by_column))
            if args.verbose:
                print(f"  {label}: " + ", ".join(
                    f"{c}={s} {_number(v)}" for c, (s, v) in by_column.items()),
                    file=sys.stderr)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
