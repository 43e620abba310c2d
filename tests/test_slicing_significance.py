"""Slice-vs-rest tests and the Benjamini-Hochberg adjustment, cross-checked with scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evalctl.slicing.significance import FISHER, WELCH, adjust_p_values, compare_slice_errors


def test_binary_errors_use_fisher_exact() -> None:
    rng = np.random.default_rng(0)
    errors = (rng.random(500) < 0.2).astype(float)
    mask = np.zeros(500, dtype=bool)
    mask[:60] = True
    errors[:30] = 1.0
    result = compare_slice_errors(mask, errors, binary=True)
    a, c = errors[mask].sum(), errors[~mask].sum()
    expected = stats.fisher_exact([[a, 60 - a], [c, 440 - c]])
    assert result.test == FISHER
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)


def test_continuous_errors_use_welch() -> None:
    rng = np.random.default_rng(1)
    errors = rng.exponential(1.0, 400)
    mask = rng.random(400) < 0.2
    result = compare_slice_errors(mask, errors, binary=False)
    expected = stats.ttest_ind(errors[mask], errors[~mask], equal_var=False)
    assert result.test == WELCH
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)


def test_undefined_tests_give_none() -> None:
    errors = np.array([0.5, 0.5, 0.5])
    assert compare_slice_errors(np.array([True, False, False]), errors, False).p_value is None
    assert compare_slice_errors(np.array([True, True, False]), errors, False).p_value is None
    assert compare_slice_errors(np.ones(3, dtype=bool), np.ones(3), True).p_value is None
    infinite = compare_slice_errors(np.array([True, True, False, False]),
                                    np.array([1.0, 1.0, 0.0, 0.0]), True)
    assert infinite.statistic is None and infinite.p_value is not None


def test_benjamini_hochberg_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    # sorted: 0.01, 0.03, 0.04, 0.2 -> p * m / rank = 0.04, 0.06, 0.0533, 0.2 -> running min
    expected = [0.04, 0.0533333, 0.0533333, 0.2]
    assert adjust_p_values(p) == pytest.approx(expected, rel=1e-5)
    assert adjust_p_values([None, 0.01, None]) == [None, 0.01, None]
    assert adjust_p_values([]) == []
