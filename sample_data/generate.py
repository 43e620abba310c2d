"""Generate the evalctl sample story: a binary classifier that recommends TV shows.

    python sample_data/generate.py --out DIR [--seed 7] [--rows-per-day 3000] [--scale 1.0]

The data is deterministic for a given seed (numpy ``default_rng``; one independent stream per
file family, so changing ``--rows-per-day`` does not change the training data). ``--scale``
multiplies the sizes of the training (60k) and validation (20k) sets; ``--rows-per-day`` sets
production traffic (30 days). A one-line summary per file goes to stderr, nothing to stdout.

The story, the file list and the dates are described in ``sample_data/README.md``. In short:

(a) from 2026-11-15 young users (age < 25) go from ~4% to ~30% of production traffic and the
    model's scores are nearly uninformative for them (accuracy ~0.6 vs ~0.85);
(b) production and shadow logs carry ``watch_minutes_7d`` in seconds (a logging bug); the
    model scored the true minutes;
(c) labels for 2026-11-26..2026-11-30 are null in production and arrive in ``actuals_late.csv``;
(d) the challenger v2 beats v1 overall but is clearly worse on ``country == BR``;
(e) scores are calibrated by construction (up to a probit approximation), so estimating
    performance from scores works; for young users they are merely close to 0.5;
(f) the proxy ``clicked`` follows ``watched``: P(click|watched)=0.7, P(click|not watched)=0.15.

How the labels and scores are built (vectorised, no row loops): every row gets a true logit
``k * (g(features) + h1 + h2a + h2b) + b`` and ``watched ~ Bernoulli(sigmoid(logit))``.
``h1``, ``h2a``, ``h2b`` are independent Gaussian "taste" terms the features do not show.
v1 knows ``g + h1``, v2 knows ``g + h1 + h2a``; each score is the calibrated probability given
what the model knows (``E[sigmoid(m + e)] ~= sigmoid(m / sqrt(1 + pi*var(e)/8))``), so both are
calibrated and v2 is sharper. Young users have a small slope ``k`` (labels close to coin flips,
scores near 0.5). For BR, v2 replaces its knowledge with a shrunken, noisy logit: worse there.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_SEED = 7
DEFAULT_ROWS_PER_DAY = 3000
TRAINING_ROWS = 60_000
VALIDATION_ROWS = 20_000

TRAINING_DAYS = (datetime(2026, 9, 1), 45)  # 2026-09-01 .. 2026-10-15
VALIDATION_DAYS = (datetime(2026, 10, 16), 16)  # 2026-10-16 .. 2026-10-31
PRODUCTION_DAYS = (datetime(2026, 11, 1), 30)  # 2026-11-01 .. 2026-11-30
FLOOD_DAY = 14  # 0-based day index of 2026-11-15: young users flood in from here
LATE_LABEL_DAY = 25  # 0-based day index of 2026-11-26: labels arrive late from here
RECOMPUTED_DAYS = 7  # 2026-11-01 .. 2026-11-07 recomputed offline for v2's training set

YOUNG_SHARE = 0.04
YOUNG_SHARE_FLOOD = 0.30
NULL_RATE = 0.005
SECONDS_PER_MINUTE = 60
P_CLICK_IF_WATCHED = 0.70
P_CLICK_IF_NOT = 0.15
CORRECTION_RATE = 0.01
HOURLY_TRAFFIC = (2, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 7, 9, 11, 12, 11, 8, 4)

COLUMNS = [
    "request_id", "ts", "age", "country", "device", "tenure_months", "watch_minutes_7d",
    "genre_affinity", "sessions_7d", "score", "predicted_label", "watched", "clicked",
]

# Category -> (share among users aged >= 25, share among young users, effect on the logit).
COUNTRIES = {
    "US": (0.28, 0.28, 0.10), "GB": (0.12, 0.12, 0.00), "DE": (0.10, 0.10, -0.10),
    "BR": (0.10, 0.10, 0.15), "IN": (0.14, 0.14, -0.05), "FR": (0.09, 0.09, -0.10),
    "JP": (0.08, 0.08, 0.05), "MX": (0.09, 0.09, 0.10),
}
DEVICES = {
    "tv": (0.42, 0.12, 0.60), "mobile": (0.28, 0.65, -0.50),
    "web": (0.20, 0.13, -0.20), "tablet": (0.10, 0.10, 0.00),
}
GENRES = {
    "drama": (0.24, 0.10, 0.40), "comedy": (0.20, 0.25, 0.20),
    "documentary": (0.14, 0.04, -0.30), "action": (0.16, 0.22, 0.10),
    "kids": (0.10, 0.02, -0.60), "reality": (0.08, 0.25, 0.00), "sci-fi": (0.08, 0.22, 0.30),
}

# Latent "taste" terms (standard deviations) and the young users' slope and offset.
SD_H1, SD_H2A, SD_H2B = 4.5, 1.8, 1.0
INTERCEPT, FEATURE_WEIGHT = -1.6, 2.0
YOUNG_SLOPE, YOUNG_OFFSET = 0.1, 0.1
# v2's view of BR: a shrunken copy of v1's logit plus noise it learnt from too little BR data.
BR_V2_SHRINK, BR_V2_NOISE = 0.6, 1.1


Table = dict[str, tuple[float, float, float]]
Outcomes = dict[str, np.ndarray]


def _categorical(
    rng: np.random.Generator, table: Table, young: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one category per row (different mix for young users); return names and effects."""
    names = np.array(list(table))
    shares = np.array(list(table.values()))
    u = rng.random(young.size)
    cum_old = np.cumsum(shares[:, 0]) / shares[:, 0].sum()
    cum_young = np.cumsum(shares[:, 1]) / shares[:, 1].sum()
    idx = np.where(young, np.searchsorted(cum_young, u), np.searchsorted(cum_old, u))
    idx = np.minimum(idx, len(names) - 1)
    return names[idx], shares[idx, 2]


def _population(rng: np.random.Generator, young: np.ndarray) -> dict[str, np.ndarray]:
    """True (un-logged) features plus the model-visible logit ``g`` for each row."""
    n = young.size
    old_age = np.minimum(25 + np.floor(rng.gamma(3.0, 7.0, n)), 90)
    age = np.where(young, 16 + rng.binomial(8, 0.6, n), old_age).astype(np.int64)
    country, country_eff = _categorical(rng, COUNTRIES, young)
    device, device_eff = _categorical(rng, DEVICES, young)
    genre, genre_eff = _categorical(rng, GENRES, young)
    tenure = np.where(young, rng.gamma(1.2, 8.0, n), rng.gamma(1.5, 20.0, n))
    tenure = np.minimum(np.floor(tenure), 240).astype(np.int64)
    log_minutes = rng.normal(np.log(300.0), 0.8, n)
    minutes = np.round(np.clip(np.exp(log_minutes), 1.0, 10_080.0), 1)
    sessions = rng.poisson(0.5 + minutes / 55.0).astype(np.int64)
    g = INTERCEPT + FEATURE_WEIGHT * (
        0.9 * np.log(minutes / 300.0)
        + 0.03 * (np.minimum(tenure, 60) - 24)
        + 0.08 * (sessions - 6)
        + 0.01 * (age - 45)
        + country_eff + device_eff + genre_eff
    )
    return {
        "age": age, "country": country, "device": device, "tenure_months": tenure,
        "watch_minutes_7d": minutes, "genre_affinity": genre, "sessions_7d": sessions,
        "young": young, "g": g,
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated(known: np.ndarray, unknown_var: np.ndarray) -> np.ndarray:
    """Probit approximation of E[sigmoid(known + e)], e ~ N(0, unknown_var)."""
    return _sigmoid(known / np.sqrt(1.0 + np.pi * unknown_var / 8.0))


def _outcomes(rng: np.random.Generator, pop: dict[str, np.ndarray]) -> Outcomes:
    """Label, proxy and both models' scores for a population from ``_population``."""
    n = pop["g"].size
    h1, h2a, h2b = (rng.normal(0.0, sd, n) for sd in (SD_H1, SD_H2A, SD_H2B))
    slope = np.where(pop["young"], YOUNG_SLOPE, 1.0)
    offset = np.where(pop["young"], YOUNG_OFFSET, 0.0)
    m1 = pop["g"] + h1
    m2 = m1 + h2a
    watched = rng.random(n) < _sigmoid(slope * (m2 + h2b) + offset)
    k2 = slope**2
    score_v1 = _calibrated(slope * m1 + offset, k2 * (SD_H2A**2 + SD_H2B**2))
    score_v2 = _calibrated(slope * m2 + offset, k2 * SD_H2B**2)
    br_logit = BR_V2_SHRINK * np.log(score_v1 / (1 - score_v1)) + rng.normal(0, BR_V2_NOISE, n)
    score_v2 = np.where(pop["country"] == "BR", _sigmoid(br_logit), score_v2)
    p_click = np.where(watched, P_CLICK_IF_WATCHED, P_CLICK_IF_NOT)
    return {
        "watched": watched.astype(np.int64),
        "clicked": (rng.random(n) < p_click).astype(np.int64),
        "score_v1": np.round(score_v1, 6),
        "score_v2": np.round(score_v2, 6),
    }


def _timestamps(rng: np.random.Generator, start: datetime, day: np.ndarray) -> np.ndarray:
    """One timestamp per row on its day (0-based from ``start``), busier in the evening."""
    hour_weight = np.array(HOURLY_TRAFFIC, dtype=float)
    hour = rng.choice(24, size=day.size, p=hour_weight / hour_weight.sum())
    seconds = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, day.size)
    return (np.datetime64(start, "s") + seconds.astype("timedelta64[s]")).astype("datetime64[us]")


def _ids(prefix: str, n: int) -> pl.Series:
    numbers = pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(7)
    return (prefix + numbers).alias("request_id")


def _with_nulls(rng: np.random.Generator, values: np.ndarray) -> pl.Series:
    """``values`` with ~NULL_RATE of them missing (the logging drops them)."""
    return pl.Series(values).scatter(np.flatnonzero(rng.random(values.size) < NULL_RATE), None)


def _frame(
    rng: np.random.Generator, prefix: str, start: datetime, day: np.ndarray, young: np.ndarray
) -> tuple[pl.DataFrame, Outcomes]:
    """Requests sorted by time: ids, timestamps and logged features; plus their outcomes."""
    ts = _timestamps(rng, start, day)
    order = np.argsort(ts, kind="stable")
    pop = {k: v[order] for k, v in _population(rng, young).items()}
    out = _outcomes(rng, pop)
    frame = pl.DataFrame({
        "request_id": _ids(prefix, day.size),
        "ts": ts[order],
        "age": pop["age"],
        "country": pop["country"],
        "device": pop["device"],
        "tenure_months": _with_nulls(rng, pop["tenure_months"]),
        "watch_minutes_7d": pop["watch_minutes_7d"],
        "genre_affinity": _with_nulls(rng, pop["genre_affinity"]),
        "sessions_7d": pop["sessions_7d"],
    })
    return frame, out | {"young": pop["young"]}


def _scored(frame: pl.DataFrame, out: Outcomes, version: str) -> pl.DataFrame:
    """``frame`` plus one model's score and predicted label, the label and the proxy."""
    score = out[f"score_{version}"]
    return frame.with_columns(
        pl.Series("score", score),
        pl.Series("predicted_label", (score >= 0.5).astype(np.int64)),
        pl.Series("watched", out["watched"]),
        pl.Series("clicked", out["clicked"]),
    ).select(COLUMNS)


def _offline_set(
    seed: np.random.SeedSequence, prefix: str, days: tuple[datetime, int], n: int
) -> tuple[pl.DataFrame, Outcomes]:
    """Training or validation requests: uniform over the days, ~4% young users."""
    rng = np.random.default_rng(seed)
    start, n_days = days
    day = np.sort(rng.integers(0, n_days, n))
    young = rng.random(n) < YOUNG_SHARE
    return _frame(rng, prefix, start, day, young)


def _production(
    seed: np.random.SeedSequence, rows_per_day: int
) -> tuple[pl.DataFrame, Outcomes]:
    """30 days of live traffic; young users flood in from FLOOD_DAY."""
    rng = np.random.default_rng(seed)
    start, n_days = PRODUCTION_DAYS
    day = np.repeat(np.arange(n_days), rows_per_day)
    young = rng.random(day.size) < np.where(day >= FLOOD_DAY, YOUNG_SHARE_FLOOD, YOUNG_SHARE)
    return _frame(rng, "p-", start, day, young)


def _late_actuals(rng: np.random.Generator, late: pl.DataFrame) -> pl.DataFrame:
    """Ground truth for the late days, arriving 1-3 days after the prediction.

    About 1% of ids get a SECOND, later row: the first actual was wrong (flipped) and the
    correction carries the true label. Downstream the newest actual per id wins.
    """
    n = late.height
    delay = rng.integers(86_400, 3 * 86_400 + 1, n).astype("timedelta64[s]")
    arrival = late["ts"].to_numpy().astype("datetime64[s]") + delay
    truth = late["watched"].to_numpy()
    corrected = rng.random(n) < CORRECTION_RATE
    first = np.where(corrected, 1 - truth, truth)
    correction = arrival + rng.integers(6 * 3_600, 3 * 86_400, n).astype("timedelta64[s]")
    ids = late["request_id"]
    actuals = pl.DataFrame({
        "request_id": pl.concat([ids, ids.filter(corrected)]),
        "watched": np.concatenate([first, truth[corrected]]),
        "ts": np.concatenate([arrival, correction[corrected]]).astype("datetime64[us]"),
    })
    return actuals.sort("ts", "request_id")


def _iso(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S"))


def _build(seed: int, rows_per_day: int, scale: float) -> dict[str, pl.DataFrame]:
    """All files as frames, keyed by file name."""
    s_train, s_valid, s_prod, s_actuals = np.random.SeedSequence(seed).spawn(4)
    n_train, n_valid = (max(1, round(rows * scale)) for rows in (TRAINING_ROWS, VALIDATION_ROWS))
    train, train_out = _offline_set(s_train, "t-", TRAINING_DAYS, n_train)
    valid, valid_out = _offline_set(s_valid, "v-", VALIDATION_DAYS, n_valid)
    prod, prod_out = _production(s_prod, rows_per_day)

    # (b) the logging pipeline writes seconds; the model scored the true minutes.
    logged = prod.with_columns(pl.col("watch_minutes_7d") * SECONDS_PER_MINUTE)
    day = (pl.col("ts").dt.date() - PRODUCTION_DAYS[0].date()).dt.total_days()
    late = day >= LATE_LABEL_DAY
    production = _scored(logged, prod_out, "v1")
    shadow = _scored(logged, prod_out, "v2")
    recomputed = _scored(prod, prod_out, "v2").filter(day < RECOMPUTED_DAYS)
    actuals = _late_actuals(np.random.default_rng(s_actuals), production.filter(late))
    # (c) labels of the last days are not known when the predictions are logged.
    hide = pl.when(late).then(None).otherwise(pl.col("watched")).alias("watched")
    return {
        "training.parquet": _scored(train, train_out, "v1"),
        "validation_v1.parquet": _scored(valid, valid_out, "v1"),
        "validation_v2.parquet": _scored(valid, valid_out, "v2"),
        "production_v1.csv": _iso(production.with_columns(hide)),
        "shadow_v2.jsonl": _iso(shadow.with_columns(hide)),
        "actuals_late.csv": _iso(actuals),
        "recomputed_v2_training.parquet": recomputed,
    }


def _write(frame: pl.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.write_parquet(path, compression="zstd", statistics=True)
    elif path.suffix == ".csv":
        frame.write_csv(path)
    else:
        frame.write_ndjson(path)


def _describe(frame: pl.DataFrame) -> str:
    ts = frame["ts"].cast(pl.String).str.slice(0, 10)
    labels = "" if "score" not in frame.columns else (
        f", {frame['watched'].null_count():,} without label"
    )
    return f"{frame.height:,} rows, ts {ts.min()}..{ts.max()}{labels}"


def generate(
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY,
    scale: float = 1.0,
    *,
    verbose: bool = True,
) -> dict[str, Path]:
    """Write the sample files into ``out_dir``; return {file stem: path}.

    ``scale`` multiplies the training (60k) and validation (20k) sizes; ``rows_per_day`` is
    the production volume per day (30 days).
    """
    if rows_per_day < 1 or scale <= 0:
        raise ValueError("rows_per_day must be >= 1 and scale > 0")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in _build(seed, rows_per_day, scale).items():
        path = out_dir / name
        _write(frame, path)
        paths[path.name.split(".")[0]] = path
        if verbose:
            print(f"wrote {path}: {_describe(frame)}", file=sys.stderr)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--rows-per-day", type=int, default=DEFAULT_ROWS_PER_DAY,
                        help="production requests per day (30 days)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies the training (60k) and validation (20k) sizes")
    args = parser.parse_args(argv)
    if args.rows_per_day < 1 or args.scale <= 0:
        parser.error("--rows-per-day must be >= 1 and --scale > 0")
    generate(args.out, seed=args.seed, rows_per_day=args.rows_per_day, scale=args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
