"""`discover_slices`: find where a model errs most, with SliceLine (see `lattice`).

Two polars queries read the data (fit the bins and kept levels, then compute integer codes);
everything after runs on those codes with numpy. Rows whose error is null or NaN are left out
and counted in ``n_excluded``.

Choosing alpha: a slice holding a share ``s`` of the rows with ``r`` times the average error
scores above zero iff ``r > 1 + (1 - alpha) / alpha * (1 / s - 1)``. At the default 0.95 that
is twice the error on more than 5% of the rows, 3x on more than 2.6%, 5x on more than 1.3%;
at 0.98, twice the error on more than 2%. With alpha 0.5-0.6 almost nothing scores above
zero once the overall error is high.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from evalctl.errors import InputError
from evalctl.slicing.coded import CodedData
from evalctl.slicing.encoding import FeatureCoding, encode, fit_encodings
from evalctl.slicing.lattice import SearchParams, SearchResult, TopK, search
from evalctl.slicing.predicates import slice_id
from evalctl.slicing.result import Slice, SliceDiscovery
from evalctl.slicing.significance import adjust_p_values, compare_slice_errors

KINDS = ("numeric", "categorical")


def default_min_support(n_rows: int) -> int:
    """max(32, 0.1% of the rows): small enough to find narrow slices, large enough to matter."""
    return max(32, math.ceil(0.001 * n_rows))


def discover_slices(
    data: pl.LazyFrame | pl.DataFrame,
    features: Mapping[str, str],
    error: str,
    *,
    alpha: float = 0.95,
    k: int = 10,
    max_level: int = 3,
    min_support: int | float | None = None,
    n_bins: int = 5,
    bin_edges: Mapping[str, list[float]] | None = None,
    max_categories: int = 50,
    fdr: float = 0.05,
) -> SliceDiscovery:
    """The `k` slices with the highest positive SliceLine score, best first.

    `features` maps column -> ``numeric`` | ``categorical``; `error` names a per-row,
    non-negative error column (0/1 misclassification, squared error, log loss...).
    Score: ``alpha * (slice mean error / mean error - 1) - (1 - alpha) * (n / size - 1)``.
    A slice has at most `max_level` predicates on different features and at least
    `min_support` rows (a fraction of the rows when < 1; default `default_min_support`).
    Numeric features are cut at `bin_edges` (reference edges) or at `n_bins` quantiles of
    the data; categoricals keep their `max_categories` most frequent levels plus
    ``<other>``; null is a level of its own. `significant` means the Benjamini-Hochberg
    adjusted p-value of the slice-vs-rest test is below `fdr`.

    Raises `InputError` for unknown columns or kinds, wrong column types, bad parameters,
    negative or infinite errors, and when no row has an error.
    """
    _check_params(alpha, k, max_level, min_support, n_bins, max_categories, fdr)
    codings, coded, n_excluded = _load(data.lazy(), dict(features), error, n_bins,
                                       dict(bin_edges or {}), max_categories)
    support = _resolve_min_support(min_support, coded.n)
    _check_key_space(coded, max_level)
    if coded.mean_error > 0:
        result = search(coded, SearchParams(alpha, k, max_level, support))
    else:
        result = SearchResult(TopK.empty(max_level), level_reached=0)
    return SliceDiscovery(
        slices=_build_slices(result, coded, codings, fdr), n_rows=coded.n,
        n_excluded=n_excluded, mean_error=coded.mean_error,
        error_kind="binary" if coded.binary else "continuous", alpha=alpha, k=k,
        max_level=max_level, min_support=support, fdr=fdr,
        level_reached=result.level_reached, levels=tuple(result.levels), codings=tuple(codings),
    )


def _load(lf: pl.LazyFrame, features: dict[str, str], error: str, n_bins: int,
          edges: dict[str, list[float]],
          max_categories: int) -> tuple[list[FeatureCoding], CodedData, int]:
    """Fit the codings, encode the rows with a usable error; also count the rows left out."""
    _check_columns(lf.collect_schema(), features, error, edges)
    err = pl.col(error).cast(pl.Float64)
    usable = err.is_not_null() & err.is_not_nan()
    total, used = lf.select(pl.len(), usable.sum().alias("used")).collect().row(0)
    if used == 0:
        raise InputError(f"no row has a value in the error column {error!r}")
    base = lf.filter(usable).select([*features, error])
    codings = fit_encodings(base, features, n_bins, edges, max_categories)
    codes, errors = encode(base, codings, err)
    _check_errors(errors, error)
    cards = np.asarray([c.cardinality for c in codings], dtype=np.int64)
    binary = bool(np.all((errors == 0) | (errors == 1)))
    return codings, CodedData(codes, cards, errors, binary), int(total - used)


def _check_params(alpha: float, k: int, max_level: int, min_support: int | float | None,
                  n_bins: int, max_categories: int, fdr: float) -> None:
    problems = []
    if not 0 < alpha <= 1:
        problems.append(f"alpha must be in (0, 1], got {alpha}")
    if k < 1 or max_level < 1 or max_categories < 1:
        problems.append("k, max_level and max_categories must be at least 1")
    if n_bins < 2:
        problems.append(f"n_bins must be at least 2, got {n_bins}")
    if not 0 < fdr < 1:
        problems.append(f"fdr must be in (0, 1), got {fdr}")
    if min_support is not None and (isinstance(min_support, bool) or min_support <= 0):
        problems.append(f"min_support must be a positive count or a fraction, got {min_support}")
    if problems:
        raise InputError("; ".join(problems))


def _check_columns(schema: pl.Schema, features: dict[str, str], error: str,
                   edges: dict[str, list[float]]) -> None:
    if not features:
        raise InputError("slice discovery needs at least one feature")
    if error not in schema:
        raise InputError(f"error column {error!r} is missing")
    if not (schema[error].is_numeric() or schema[error] in (pl.Boolean, pl.Null)):
        raise InputError(f"error column {error!r} must be numeric, got {schema[error]}")
    for name, kind in features.items():
        if kind not in KINDS:
            raise InputError(f"feature {name!r}: expected numeric or categorical, got {kind!r}")
        if name == error:
            raise InputError(f"feature {name!r} is also the error column")
        if name not in schema:
            raise InputError(f"feature column {name!r} is missing")
        dtype = schema[name]
        if kind == "numeric" and not (dtype.is_numeric() or dtype in (pl.Boolean, pl.Null)):
            raise InputError(f"feature {name!r} is configured numeric but has type {dtype}")
        if kind == "categorical" and dtype.is_nested():
            raise InputError(f"feature {name!r} is categorical but has nested type {dtype}")
    unknown = sorted(set(edges) - {f for f, k in features.items() if k == "numeric"})
    if unknown:
        raise InputError(f"bin_edges given for non-numeric or unknown features: {unknown}")


def _check_errors(errors: np.ndarray, column: str) -> None:
    if not np.all(np.isfinite(errors)):
        raise InputError(f"error column {column!r} holds infinite values")
    if errors.size and errors.min() < 0:
        raise InputError(f"error column {column!r} holds negative values; errors must be >= 0")


def _check_key_space(coded: CodedData, max_level: int) -> None:
    items = int(coded.cards.sum())
    if items ** min(max_level, len(coded.cards)) >= 2**62:
        raise InputError(f"max_level {max_level} is too deep for {items} feature levels; "
                         "lower max_level, n_bins or max_categories")


def _resolve_min_support(min_support: int | float | None, n_rows: int) -> int:
    if min_support is None:
        return default_min_support(n_rows)
    if min_support < 1:
        return max(1, math.ceil(min_support * n_rows))
    return int(min_support)


def _build_slices(result: SearchResult, coded: CodedData, codings: list[FeatureCoding],
                  fdr: float) -> tuple[Slice, ...]:
    item_feature, item_code = coded.item_feature, coded.item_code
    drafts = []
    for row, score, size, err in zip(result.top.items, result.top.score, result.top.size,
                                     result.top.error_sum, strict=True):
        items = row[row >= 0]
        mask = np.ones(coded.n, dtype=bool)
        for f, code in zip(item_feature[items], item_code[items], strict=True):
            mask &= coded.codes[f] == code
        preds = sorted((codings[f].predicates[c] for f, c in
                        zip(item_feature[items], item_code[items], strict=True)),
                       key=lambda p: p.feature)
        drafts.append((tuple(preds), float(score), int(size), float(err),
                       compare_slice_errors(mask, coded.errors, coded.binary)))
    adjusted = adjust_p_values([d[4].p_value for d in drafts])
    return tuple(
        Slice(id=slice_id(preds), predicates=preds, size=size, share=size / coded.n,
              error_sum=err, error_mean=err / size, score=score, test=test.test,
              statistic=test.statistic, p_value=test.p_value, p_adjusted=p_adj,
              significant=p_adj is not None and p_adj < fdr)
        for (preds, score, size, err, test), p_adj in zip(drafts, adjusted, strict=True)
    )
