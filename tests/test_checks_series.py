"""Window-series helpers: onset, minimum rows, data-driven thresholds, Benjamini-Hochberg.

The thresholds skew computes from reference chunks are tested on `skew.chunk_thresholds`
(tests/test_skew_drift.py), the code that runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from evalctl.checks import (
    INSUFFICIENT,
    adjust_pvalues_bh,
    data_driven_threshold,
    find_onset,
    mark_insufficient,
)


@pytest.mark.parametrize(("statuses", "level", "onset"), [
    ([], "warn", None),
    (["pass", "pass"], "warn", None),
    (["warn", "fail"], "warn", 0),
    (["pass", "warn", "pass", "warn", "insufficient", "fail", "warn"], "warn", 3),
    (["pass", "fail", "warn"], "fail", None),
    (["pass", "warn", "fail", "fail"], "fail", 2),
    (["fail", "pass", "fail", "error", "insufficient"], "warn", 2),
    (["fail", "insufficient", "insufficient"], "warn", 0),
    (["insufficient", "error"], "warn", None),
    (["warn", "pass"], "warn", None),
])
def test_find_onset(statuses: list[str], level: str, onset: int | None) -> None:
    assert find_onset(statuses, level) == onset


def test_find_onset_rejects_unknown_level() -> None:
    with pytest.raises(ValueError):
        find_onset(["pass"], level="error")


def test_mark_insufficient() -> None:
    marked = mark_insufficient(["fail", "pass", "warn"], [10, 500, 99], min_rows=100)
    assert marked == [INSUFFICIENT, "pass", INSUFFICIENT]
    assert find_onset(mark_insufficient(["pass", "warn", "fail"], [500, 500, 3], 100)) == 1
    with pytest.raises(ValueError):
        mark_insufficient(["pass"], [1, 2], 1)


def test_data_driven_threshold() -> None:
    scores = [0.01, 0.03, None, 0.02, float("nan"), 0.04]
    values = np.array([0.01, 0.03, 0.02, 0.04])
    assert data_driven_threshold(scores) == pytest.approx(values.mean() + 3 * values.std())
    assert data_driven_threshold(scores, k=2, higher_is_worse=False) == pytest.approx(
        values.mean() - 2 * values.std())
    assert data_driven_threshold([0.1]) is None


def test_benjamini_hochberg_matches_scipy_and_keeps_gaps() -> None:
    p = [0.01, None, 0.04, 0.03, 0.5, float("nan"), 0.001]
    adjusted = adjust_pvalues_bh(p)
    present = [0.01, 0.04, 0.03, 0.5, 0.001]
    expected = iter(false_discovery_control(present, method="bh"))
    assert [a is None for a in adjusted] == [False, True, False, False, False, True, False]
    for value in adjusted:
        if value is not None:
            assert value == pytest.approx(next(expected))
    assert adjust_pvalues_bh([None]) == [None]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_benjamini_hochberg_property(p: list[float]) -> None:
    np.testing.assert_allclose(adjust_pvalues_bh(p), false_discovery_control(p), rtol=1e-12)
