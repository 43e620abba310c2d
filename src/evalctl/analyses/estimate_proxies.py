"""The proxies of `evalctl estimate`: the declared proxy columns per window (mean, Welch test
and PSI against the reference), and one result per proxy with its correlation with the
realised metric, ranked. Every task's estimate has them, and a model whose task cannot be
estimated tracks them alone.

The per-window sums come from `estimate`'s grouped frames (count, sum and sum of squares of
each proxy's finite values, `_x{i}n/s/q`); PSI adds the reference binning and one summary scan
of the current (`evalctl.stats`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from evalctl.analyses.estimators import IDX, INSUFFICIENT, P, Y
from evalctl.analyses.performance import finite
from evalctl.checks import compute_score
from evalctl.config import ModelConfig
from evalctl.lake.store import VERSION_COL, Selection, Store
from evalctl.settings.sections import EstimateSettings, ProxyRule
from evalctl.stats import cbpe, fit_binning, summarize

MIN_CORRELATED_WINDOWS = 5  # labelled windows needed before correlating proxy and metric


def proxy_windows(store: Store, model: ModelConfig, ref_side: tuple[Selection, pl.DataFrame],
                   cur_side: tuple[Selection, pl.DataFrame], key: pl.Expr,
                   bounds: list[dict[str, Any]], settings: EstimateSettings
                   ) -> dict[str, list[dict[str, Any]]]:
    """Per proxy, one point per window (`cbpe.proxy_point`) plus its PSI vs the reference."""
    (ref_sel, ref), (cur_sel, cur) = ref_side, cur_side
    psi = _proxy_psi(store, model, ref_sel, cur_sel, key)
    sums = pl.col(r"^_x\d+[nsq]$").sum()
    per_window = cur.group_by(IDX).agg(sums).sort(IDX).to_dicts()
    ref_sums = ref.select(sums).row(0, named=True)
    out = {}
    for i, name in enumerate(model.proxies):
        rule = settings.proxies.get(name, ProxyRule())

        def side(row: dict[str, Any], i: int = i) -> tuple[float, float, float]:
            return (float(row[f"_x{i}n"] or 0), float(row[f"_x{i}s"] or 0),
                    float(row[f"_x{i}q"] or 0))

        points = []
        for row, bound in zip(per_window, bounds, strict=True):
            point = cbpe.proxy_point(name, side(ref_sums), side(row), (rule.minimum, rule.maximum))
            point["psi"] = psi.get((bound["_key"], name))
            if bound["rows"] < settings.min_rows:
                point["status"], point["why"] = INSUFFICIENT, None
            points.append(point)
        out[name] = points
    return out


def _proxy_psi(store: Store, model: ModelConfig, ref_sel: Selection, cur_sel: Selection,
               key: pl.Expr) -> dict[tuple[Any, str], float | None]:
    """PSI of every proxy in every window (reference-decile bins, `evalctl.stats`)."""

    kinds = dict.fromkeys(model.proxies, "numeric")
    ref_lf = store.scan(model, ref_sel.selector, with_actuals=False, selection=ref_sel).filter(
        pl.col(VERSION_COL).is_in(cur_sel.versions))
    cur_lf = store.scan(model, cur_sel.selector, with_actuals=False, selection=cur_sel)
    binning = fit_binning(ref_lf, kinds)
    ref = summarize(ref_lf, binning)[None]
    return {(w, p): compute_score(ref[p], summary[p], "numeric", "psi").value
            for w, summary in summarize(cur_lf, binning, by=key).items() for p in kinds}


def proxy_results(proxies: dict[str, list[dict[str, Any]]], cur: pl.DataFrame | None,
                   bounds: list[dict[str, Any]], windows: list[dict[str, Any]],
                   settings: EstimateSettings) -> list[dict[str, Any]]:
    """One result per proxy: latest window, correlations with the realised metric, ranked."""
    realised = np.full(len(bounds), np.nan)
    for i, w in enumerate(r for r in windows if r.get("section") == "windows"):
        if w["labelled_rows"] >= settings.min_rows and w["realized_value"] is not None:
            realised[i] = w["realized_value"]
    by_rows = _row_correlations(cur, list(proxies)) if cur is not None else {}
    out = []
    for name, points in proxies.items():
        means = np.array([np.nan if p["mean"] is None else p["mean"] for p in points])
        both = np.isfinite(means) & np.isfinite(realised)
        judged = [p for p in points if p["status"] != INSUFFICIENT]
        latest = judged[-1] if judged else points[-1]
        out.append({
            "section": "proxies", "status": latest["status"], "proxy": name,
            **{k: latest[k] for k in ("mean", "reference_mean", "diff", "p_value", "psi")},
            "corr_windows": finite(cbpe.pearson(means, realised)) if both.sum()
            >= MIN_CORRELATED_WINDOWS else None, "windows_correlated": int(both.sum()),
            **by_rows.get(name, {"corr_rows": None, "corr_label": None, "labelled_rows": 0}),
            "series": [{k: v for k, v in b.items() if k != "_key"} | p
                       for b, p in zip(bounds, points, strict=True)]})
    order = sorted(out, key=lambda r: (-abs(r["corr_windows"] or 0), -abs(r["corr_rows"] or 0)))
    for rank, result in enumerate(order, start=1):
        result["rank"] = rank
    return order


def _row_correlations(cur: pl.DataFrame, names: list[str]) -> dict[str, dict[str, Any]]:
    """Point-biserial correlation of each proxy with correctness and with the label."""
    labelled = cur.filter(pl.col(Y).is_not_null() & pl.col(P).is_in([0, 1]))
    right, y = (pl.col(P) == pl.col(Y)).cast(pl.Float64), pl.col(Y).cast(pl.Float64)
    aggs = []
    for i in range(len(names)):
        n, s = pl.col(f"_x{i}n"), pl.col(f"_x{i}s")
        aggs += [n.sum().alias(f"n{i}"), s.sum().alias(f"s{i}"), pl.col(f"_x{i}q").sum().alias(
            f"q{i}"), (n * right).sum().alias(f"c{i}"), (s * right).sum().alias(f"sc{i}"),
            (n * y).sum().alias(f"y{i}"), (s * y).sum().alias(f"sy{i}")]
    row = {k: float(v or 0) for k, v in labelled.select(aggs).row(0, named=True).items()}
    return {name: {
        "corr_rows": finite(cbpe.correlation_from_sums(
            row[f"n{i}"], row[f"s{i}"], row[f"c{i}"], row[f"q{i}"], row[f"c{i}"], row[f"sc{i}"])),
        "corr_label": finite(cbpe.correlation_from_sums(
            row[f"n{i}"], row[f"s{i}"], row[f"y{i}"], row[f"q{i}"], row[f"y{i}"], row[f"sy{i}"])),
        "labelled_rows": int(row[f"n{i}"])} for i, name in enumerate(names)}
