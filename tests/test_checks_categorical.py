"""Unseen and vanished categories against brute-force counting with polars."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evalctl.checks import compute_score
from evalctl.checks.categorical import NAMES_SHOWN, unseen_categories, vanished_categories
from evalctl.stats import fit_binning, summarize
from evalctl.stats.summary import CategoricalSummary

RNG = np.random.default_rng(11)


def _summaries(ref: list[str | None], cur: list[str | None], top_k: int = 50
               ) -> tuple[CategoricalSummary, CategoricalSummary]:
    ref_frame, cur_frame = pl.LazyFrame({"c": ref}), pl.LazyFrame({"c": cur})
    binning = fit_binning(ref_frame, {"c": "categorical"}, top_k=top_k)
    ref_summary = summarize(ref_frame, binning)[None]["c"]
    cur_summary = summarize(cur_frame, binning)[None]["c"]
    assert isinstance(ref_summary, CategoricalSummary)
    assert isinstance(cur_summary, CategoricalSummary)
    return ref_summary, cur_summary


def test_unseen_share_and_names_match_brute_force() -> None:
    ref = list(RNG.choice(list("abcdef"), 3000)) + [None] * 40
    new = [f"n{i:02d}" for i in range(12)]
    cur = list(RNG.choice(list("abcd") + new, 2000)) + [None] * 25
    ref_summary, cur_summary = _summaries(ref, cur)
    values = pl.Series(cur, dtype=pl.String).drop_nulls()
    unseen = values.filter(~values.is_in(set(filter(None, ref))))
    score = compute_score(ref_summary, cur_summary, "categorical", "unseen")
    assert score.value == pytest.approx(len(unseen) / len(values))
    details = unseen_categories(cur_summary)
    assert details["rows"] == len(unseen) and details["levels"] == unseen.n_unique()
    assert details["names"] == sorted(unseen.unique())[:NAMES_SHOWN]
    assert details["levels_exact"] is True


def test_vanished_share_counts_the_reference_share_of_missing_top_categories() -> None:
    ref = ["a"] * 500 + ["b"] * 300 + ["c"] * 150 + ["d"] * 50
    cur = ["a"] * 400 + ["c"] * 100
    ref_summary, cur_summary = _summaries(ref, cur)
    details = vanished_categories(ref_summary, cur_summary)
    assert details == {"count": 2, "reference_share": pytest.approx(0.35), "names": ["b", "d"]}
    score = compute_score(ref_summary, cur_summary, "categorical", "vanished")
    assert score.value == pytest.approx(0.35)
    # only the reference's top K are tracked: with K=2, the vanished "d" goes unnoticed
    top_two = vanished_categories(*_summaries(ref, cur, top_k=2))
    assert top_two["names"] == ["b"] and top_two["reference_share"] == pytest.approx(0.3)


def test_nothing_new_nothing_gone() -> None:
    ref_summary, cur_summary = _summaries(list("abc") * 50, list("cba") * 20)
    assert compute_score(ref_summary, cur_summary, "categorical", "unseen").value == 0
    assert compute_score(ref_summary, cur_summary, "categorical", "vanished").value == 0
    assert vanished_categories(ref_summary, cur_summary)["names"] == []
