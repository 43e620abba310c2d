"""Ranking metrics against scikit-learn's ndcg_score and brute-force numpy (MRR, hit rate)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import ndcg_score

from evalctl.errors import InputError
from evalctl.metrics import column_slice, compute_metrics

Z95 = 1.959963984540054


def make_frame(queries: int = 150, seed: int = 0) -> pl.DataFrame:
    """Queries of 1-8 items, scores rounded to 0.1 (heavy ties), many zero relevances (some
    queries all zero), a null label and a NaN score; country is a query-level attribute."""
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(queries):
        country = ["BR", "US", "DE"][q % 3]
        for _ in range(int(rng.integers(1, 9))):
            relevance = int(rng.integers(0, 4)) if rng.random() < 0.4 else 0
            rows.append((f"q{q}", relevance, round(float(rng.random()), 1), country))
    df = pl.DataFrame(rows, schema=["qid", "rel", "score", "country"], orient="row")
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("rel")).alias("rel"),
        pl.when(pl.int_range(pl.len()) == 7).then(float("nan")).otherwise(pl.col("score"))
        .alias("score"),
    )


def brute_force(rel: np.ndarray, score: np.ndarray, k: int) -> tuple[float, float, float]:
    """(NDCG@k with tie-averaged gains, pessimistic reciprocal rank, pessimistic hit@k)."""
    discount = 1 / np.log2(np.arange(len(rel)) + 2)
    discount[k:] = 0
    order = np.argsort(-score, kind="stable")
    dcg, start = 0.0, 0
    for value in np.unique(-score):
        block = score[order] == -value
        size = int(block.sum())
        dcg += rel[order][block].mean() * discount[start:start + size].sum()
        start += size
    ideal = (np.sort(rel)[::-1] * discount).sum()
    ndcg = dcg / ideal if ideal > 0 else 0.0
    relevant = score[rel > 0]
    if relevant.size == 0:
        return ndcg, 0.0, 0.0
    best = relevant.max()
    rank = (score > best).sum() + ((score == best) & (rel <= 0)).sum() + 1
    return ndcg, 1.0 / rank, float(rank <= k)


def per_query(df: pl.DataFrame, k: int) -> pl.DataFrame:
    clean = df.filter(pl.col("rel").is_not_null() & pl.col("score").is_not_nan())
    rows = []
    for (qid,), group in clean.group_by(["qid"], maintain_order=True):
        rel, score = group["rel"].to_numpy().astype(float), group["score"].to_numpy()
        ndcg, rr, hit = brute_force(rel, score, k)
        if len(rel) > 1:
            assert ndcg == pytest.approx(ndcg_score([rel], [score], k=k))
        rows.append((qid, group["country"][0], ndcg, rr, hit))
    return pl.DataFrame(rows, schema=["qid", "country", "ndcg", "mrr", "hit_rate"], orient="row")


@pytest.mark.parametrize("k", [3, 10])
def test_metrics_match_brute_force_and_sklearn(k):
    df = make_frame()
    out = compute_metrics(df, "ranking", label="rel", score="score", group="qid", k=k,
                          slices=[column_slice("country")])
    expected = per_query(df, k)
    for slice_name, segment, frame in [("overall", "all", expected)] + [
        ("country", c, expected.filter(pl.col("country") == c)) for c in ("BR", "DE", "US")
    ]:
        got = out.filter((pl.col("slice") == slice_name) & (pl.col("segment") == segment))
        for row in got.iter_rows(named=True):
            values = frame[row["metric"]].to_numpy()
            assert row["value"] == pytest.approx(values.mean(), rel=1e-12), row["metric"]
            assert row["n"] == frame.height


def test_counts_and_intervals():
    df = make_frame()
    out = compute_metrics(df, "ranking", label="rel", score="score", group="qid")
    row = out.filter(pl.col("metric") == "ndcg").row(0, named=True)
    assert (row["n_missing_label"], row["n_excluded"]) == (1, 1)
    values = per_query(df, 10)["ndcg"].to_numpy()
    half = Z95 * values.std(ddof=1) / math.sqrt(len(values))
    assert row["ci_low"] == pytest.approx(values.mean() - half)
    hit = out.filter(pl.col("metric") == "hit_rate").row(0, named=True)
    assert hit["ci_method"] == "wilson (over queries)"


def test_slice_must_be_constant_within_query():
    df = pl.DataFrame({"qid": [1, 1, 2], "rel": [1, 0, 1], "score": [0.3, 0.2, 0.5],
                       "item": ["x", "y", "x"]})
    with pytest.raises(InputError, match="one value per query"):
        compute_metrics(df, "ranking", label="rel", score="score", group="qid",
                        slices=[column_slice("item")])


def test_negative_relevance_and_missing_group():
    df = pl.DataFrame({"qid": [1, 1], "rel": [-1, 0], "score": [0.3, 0.2]})
    with pytest.raises(InputError, match=">= 0"):
        compute_metrics(df, "ranking", label="rel", score="score", group="qid")
    with pytest.raises(InputError, match="needs a group column"):
        compute_metrics(df, "ranking", label="rel", score="score")


def test_all_irrelevant_query_scores_zero():
    df = pl.DataFrame({"qid": [1, 1, 2, 2], "rel": [0, 0, 2, 0], "score": [0.9, 0.1, 0.1, 0.9]})
    out = compute_metrics(df, "ranking", label="rel", score="score", group="qid", k=1)
    got = {r["metric"]: r["value"] for r in out.iter_rows(named=True)}
    assert got == {"ndcg": 0.0, "mrr": 0.25, "hit_rate": 0.0}
