"""Multivariate drift: a classifier two-sample test (reference rows vs window rows).

Use it when the marginals may all look the same but their joint distribution moved (a
correlation between two features that flips sign): no per-column measure can see that. A
histogram gradient-boosted classifier (scikit-learn, the `evalctl[multivariate]` extra) learns to
tell reference rows (label 0) from window rows (label 1) with k-fold cross-fitting; each
held-out fold's scores give an AUROC (0.5 = indistinguishable = no drift); their mean is the
score, with a DeLong interval and a one-sided Mann-Whitney p-value against 0.5, both made
conservative for the folds' dependence (`combine_folds`). Per-feature attribution is permutation
importance on the held-out folds: the drop in held-out AUROC when one column is shuffled.

Pure: frames in, a dict out; no I/O, no clock, a fixed seed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from evalctl.errors import InputError

EXTRA = "evalctl[multivariate]"
# Categorical codes: the reference's most frequent values get 0 .. VOCABULARY-1, its rarer
# values share RARE, values the reference never had get UNSEEN; nulls stay missing (NaN).
# Histogram gradient boosting needs every code below its 255 bins.
VOCABULARY = 252
RARE, UNSEEN = VOCABULARY, VOCABULARY + 1


@dataclass(frozen=True)
class ClassifierTestOptions:
    """How the classifier two-sample test runs (stated in the report's inputs)."""

    folds: int = 2
    repeats: int = 2  # permutation-importance shuffles per feature per held-out fold
    importance_rows: int = 500  # held-out rows per fold the importances are measured on
    max_iter: int = 30  # boosting rounds (no early stopping: every fold sees the same model)
    confidence: float = 0.95
    alpha: float = 0.01  # importances only when the one-sided p-value is below this
    seed: int = 0
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15  # leaves per tree
    threads: int | None = 1  # OpenMP threads of the classifier (None: all cores)


def require_sklearn(needed_by: str = "--multivariate", key: str | None = None) -> None:
    """Raise an input error naming the extra (and the option or config `key` that asked for
    it) when scikit-learn cannot be imported."""
    try:
        import sklearn.ensemble  # noqa: F401
    except ImportError as exc:
        raise InputError(
            f"{needed_by} needs scikit-learn, which is not installed: "
            f"pip install '{EXTRA}'", hint=f"pip install '{EXTRA}'", key=key) from exc


@dataclass(frozen=True)
class Encoding:
    """Fitted once on the reference, applied to every window so windows stay comparable."""

    columns: list[str]
    categorical: list[bool]
    codes: dict[str, pl.DataFrame]  # categorical column -> (value, _code) of its top values
    seen: dict[str, pl.Series]  # categorical column -> every value the reference holds
    # categorical column -> the values the reference holds exactly once (see `encode`)
    once: dict[str, pl.Series] = field(default_factory=dict)


def category_counts(frame: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """(value as text, _n) of one categorical column, nulls left out."""
    text = pl.col(column).cast(pl.String)
    return (frame.select(text).drop_nulls().group_by(column).agg(pl.len().alias("_n")))


def fit_encoding(counts: dict[str, pl.DataFrame], kinds: dict[str, str],
                 top_counts: dict[str, pl.DataFrame] | None = None) -> Encoding:
    """Ordinal codes from value counts (`category_counts` of each categorical column): the
    VOCABULARY most frequent values of `top_counts` (default: `counts`) get their own codes,
    most frequent first, ties by value; "seen" means held by `counts` — the whole reference,
    not a sample of it, so a sampled reference row is no likelier to be "seen" than a window
    row."""
    codes, seen, once = {}, {}, {}
    for column, table in counts.items():
        top = table if top_counts is None else top_counts[column]
        codes[column] = top.sort(["_n", column], descending=[True, False]).head(
            VOCABULARY).select(pl.col(column),
                               pl.int_range(pl.len()).cast(pl.Float64).alias("_code"))
        ranked = table.sort(["_n", column], descending=[True, False])
        seen[column] = ranked.get_column(column)
        once[column] = ranked.filter(pl.col("_n") == 1).get_column(column)
    return Encoding(list(kinds), [kinds[c] == "categorical" for c in kinds], codes, seen, once)


def encode(frame: pl.DataFrame, encoding: Encoding, reference: bool = False) -> np.ndarray:
    """The frame as a float matrix: numbers as they are (null -> NaN), categories as codes.

    `reference`: the frame's rows are rows of the reference the encoding was fitted on (its
    whole or a sample of it). Each such row is then coded as if left out of the fit: a value
    the reference holds only once (in that very row) is UNSEEN, as it would be for a window
    row. Otherwise the two sides are not coded alike: a window drawn from the reference's own
    distribution meets values the reference never holds (the rarer levels of a many-level
    column) and gets UNSEEN, while no reference row ever can: a classifier learns "UNSEEN
    means window" and reports drift where there is none (an AUROC of 0.6-0.7 on a 3,000-level
    column when the reference is the whole 2,000-row reference)."""
    exprs = []
    for column, is_cat in zip(encoding.columns, encoding.categorical, strict=True):
        if not is_cat:
            exprs.append(pl.col(column).cast(pl.Float64).alias(column))
            continue
        codes = encoding.codes[column]
        text = pl.col(column).cast(pl.String)
        known = text.replace_strict(codes.get_column(column), codes.get_column("_code"),
                                    default=None, return_dtype=pl.Float64)
        seen = text.is_in(encoding.seen[column].implode())
        if reference and column in encoding.once:
            seen = seen & ~text.is_in(encoding.once[column].implode())
        exprs.append(pl.when(text.is_null()).then(None).when(~seen).then(float(UNSEEN))
                     .when(known.is_not_null()).then(known).otherwise(float(RARE))
                     .alias(column))
    matrix = frame.select(exprs).to_numpy().astype(np.float64)
    return np.where(np.isfinite(matrix), matrix, np.nan)


def encode_pair(reference: pl.DataFrame, window: pl.DataFrame, kinds: dict[str, str],
                counts: dict[str, pl.DataFrame] | None = None
                ) -> tuple[np.ndarray, np.ndarray, Encoding]:
    """Both samples encoded alike for a two-sample test, so that under "no drift" the codes
    cannot tell the sides apart. Which values are "seen" comes from the reference's counts
    (`counts` of the whole reference, else the sample's), each reference row coded as if left
    out of them (see `encode`); which values get their own code comes from the two samples
    pooled. Codes chosen by the reference's counts alone would favour it: its most frequent
    values of a many-level column are frequent partly by chance, so their codes are commoner
    among its rows than among a window's drawn from the same distribution (a false drift)."""
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    if counts is None:
        counts = {c: category_counts(reference.lazy(), c).collect() for c in categorical}
    text = [pl.col(c).cast(pl.String) for c in categorical]
    both = pl.concat([reference.lazy().select(text), window.lazy().select(text)])
    pooled = dict(zip(categorical, pl.collect_all([category_counts(both, c)
                                                   for c in categorical]), strict=True))
    encoding = fit_encoding(counts, kinds, pooled)
    return encode(reference, encoding, reference=True), encode(window, encoding), encoding


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve from midranks (ties count one half), labels 0/1."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n1 = int(labels.sum())
    n0 = len(labels) - n1
    return float((ranks[labels == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def delong_interval(scores: np.ndarray, labels: np.ndarray, confidence: float
                    ) -> tuple[float, float, float]:
    """AUROC's DeLong standard error and its normal interval clipped to [0, 1]."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import norm, rankdata

    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    both = rankdata(np.concatenate([pos, neg]))
    v10 = (both[:m] - rankdata(pos)) / n  # per positive: share of negatives below it
    v01 = 1.0 - (both[m:] - rankdata(neg)) / m  # per negative: share of positives above it
    se = float(np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n))
    value = float(v10.mean())
    z = float(norm.ppf(0.5 + confidence / 2))
    return se, max(0.0, value - z * se), min(1.0, value + z * se)


def combine_folds(scores: np.ndarray, labels: np.ndarray, folds: list[np.ndarray]
                  ) -> tuple[float, float, float]:
    """AUROC as the mean of the held-out folds' AUROCs, its standard error, and the one-sided
    p-value against 0.5.

    Under "no drift" each fold's AUROC has exactly Mann-Whitney's null distribution, whatever
    its model learnt; but the folds' AUROCs are not independent (each fold trains the model
    that scores the other: their chance agreements coincide; correlation ≈ 0.7 in simulation),
    so their variances do not simply average down. The standard deviation of a mean is at most
    the mean of the standard deviations (whatever the correlation): the p-value uses the mean
    of the folds' Mann-Whitney null deviations and the interval the mean of their DeLong
    errors — conservative, never optimistic. Scores of different fold models are never ranked
    against each other: pooled, their offsets add noise Mann-Whitney's null ignores."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import norm

    aucs, errors, null_sds = [], [], []
    for test in folds:
        s, y = scores[test], labels[test]
        n1 = int(y.sum())
        n0 = len(y) - n1
        se, _, _ = delong_interval(s, y, 0.95)
        aucs.append(auroc(s, y))
        errors.append(se)
        null_sds.append(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0)))
    value = float(np.mean(aucs))
    p_value = float(norm.sf((value - 0.5) / np.mean(null_sds)))
    return value, float(np.mean(errors)), p_value


def classifier_two_sample_test(reference: pl.DataFrame, window: pl.DataFrame,
                               kinds: dict[str, str], options: ClassifierTestOptions,
                               counts: dict[str, pl.DataFrame] | None = None
                               ) -> dict[str, Any]:
    """AUROC, interval, p-value and per-feature importance of reference-vs-window classifiers.

    `kinds` maps each column to "numeric" or "categorical". Both frames hold those columns.
    `counts`: each categorical column's `category_counts` on the whole reference when the
    `reference` frame is a sample of it.
    """
    require_sklearn()
    x_ref, x_win, encoding = encode_pair(reference, window, kinds, counts)
    return encoded_two_sample_test(x_ref, x_win, encoding, options)


def encoded_two_sample_test(x_ref: np.ndarray, x_win: np.ndarray, encoding: Encoding,
                            options: ClassifierTestOptions) -> dict[str, Any]:
    """`classifier_two_sample_test` on samples already encoded with `encoding` (so a
    reference sample shared by many windows is encoded once)."""
    # scipy is imported only when this is computed (start-up time)
    from scipy.stats import norm

    x = np.vstack([x_ref, x_win])
    y = np.concatenate([np.zeros(len(x_ref), dtype=np.int8), np.ones(len(x_win), dtype=np.int8)])
    with _thread_limit(options.threads):
        scores, models = _cross_fit(x, y, encoding.categorical, options)
        value, se, p_value = combine_folds(scores, y, [test for _, test in models])
        drops = permutation_importance(x, y, models, options) if p_value < options.alpha \
            else None  # attribution explains drift; without drift it is noise
    z = float(norm.ppf(0.5 + options.confidence / 2))
    low, high = max(0.0, value - z * se), min(1.0, value + z * se)
    features = []
    if drops is not None:
        ranked = sorted(zip(encoding.columns, drops.tolist(), strict=True),
                        key=lambda pair: (-pair[1], pair[0]))
        features = [{"feature": c, "importance": v} for c, v in ranked]
    return {"auroc": value, "standard_error": se, "ci_low": low, "ci_high": high,
            "p_value": p_value, "rows_reference": len(x_ref), "rows_window": len(x_win),
            "importance": features}


def _thread_limit(threads: int | None) -> Any:
    """A context capping the OpenMP threads scikit-learn's gradient boosting uses (its
    `threadpoolctl` dependency): on a small shared host its threads only contend."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=threads, user_api="openmp")


def _cross_fit(x: np.ndarray, y: np.ndarray, categorical: list[bool],
               options: ClassifierTestOptions) -> tuple[np.ndarray, list[tuple[Any, np.ndarray]]]:
    """Out-of-fold scores, and each fold's model with its held-out row indices."""
    # scikit-learn: the optional extra, imported only when used (start-up time)
    from sklearn.ensemble import HistGradientBoostingClassifier

    # scikit-learn: the optional extra, imported only when used (start-up time)
    from sklearn.model_selection import StratifiedKFold

    scores = np.empty(len(y), dtype=np.float64)
    models = []
    folds = StratifiedKFold(n_splits=options.folds, shuffle=True, random_state=options.seed)
    for train, test in folds.split(x, y):
        model = HistGradientBoostingClassifier(
            max_iter=options.max_iter, learning_rate=options.learning_rate,
            max_leaf_nodes=options.max_leaf_nodes,
            early_stopping=False, random_state=options.seed,
            categorical_features=np.array(categorical, dtype=bool) if any(categorical)
            else None)
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
        models.append((model, test))
    return scores, models


def permutation_importance(x: np.ndarray, y: np.ndarray, models: list[tuple[Any, np.ndarray]],
                           options: ClassifierTestOptions) -> np.ndarray:
    """Each column's mean drop in held-out AUROC when it is shuffled: `repeats` shuffles in
    each fold, on at most `importance_rows` of the fold's held-out rows (seeded)."""
    rng = np.random.default_rng(options.seed)
    drops = np.zeros(x.shape[1], dtype=np.float64)
    for model, test in models:
        rows = test if len(test) <= options.importance_rows else np.sort(
            rng.choice(test, options.importance_rows, replace=False))
        held_x, held_y = x[rows], y[rows]
        n, d = held_x.shape
        base = auroc(model.predict_proba(held_x)[:, 1], held_y)
        for _ in range(options.repeats):
            # every column shuffled in its own copy, all scored in one call
            stacked = np.tile(held_x, (d, 1))
            for j in range(d):
                stacked[j * n:(j + 1) * n, j] = held_x[rng.permutation(n), j]
            shuffled = model.predict_proba(stacked)[:, 1].reshape(d, n)
            drops += base - np.array([auroc(shuffled[j], held_y) for j in range(d)])
    return drops / (len(models) * options.repeats)
