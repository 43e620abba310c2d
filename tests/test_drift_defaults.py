"""The drift defaults meet issue #15's target on planted shifts of known size, end to end.

`benchmarks/drift_defaults.py` at 10k and 100k rows per side (seeded, so the confusion counts
are exact): every material shift flagged, the borderline one not failed, no negligible or
unchanged column flagged -- by the defaults, by `skew` end to end, and by data-driven
thresholds (`reference_chunks`, floored at the fixed thresholds). Also the floor rule itself,
and W1 / std against scipy on the generator's columns (ties, nulls, heavy tails).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy.stats import wasserstein_distance
from tests.helpers import REPO

from evalctl.checks import chunk_band_thresholds, data_driven_threshold


def _benchmark() -> ModuleType:
    path = REPO / "benchmarks" / "drift_defaults.py"
    spec = importlib.util.spec_from_file_location("drift_defaults", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["drift_defaults"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


BENCH = _benchmark()
TARGET = {"material_pass": 0, "borderline_fail": 0, "negligible_warn": 0, "negligible_fail": 0,
          "unchanged_warn": 0, "unchanged_fail": 0, "target": 1}


@pytest.fixture(scope="module", params=[10_000, 100_000])
def judged(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[int, dict[str, Any]]:
    rows = request.param
    return rows, BENCH.run_size(rows, keep=tmp_path_factory.mktemp(f"drift-{rows}"))


def test_the_generator_plants_what_the_issue_lists() -> None:
    roles = {c.name: c.role for c in BENCH.COLUMNS}
    assert sum(r == "material" for r in roles.values()) == 7
    assert [c for c, r in roles.items() if r == "borderline"] == ["mean_shift_0.1sd"]
    assert sum(r == "negligible" for r in roles.values()) == 3
    assert sum(r == "unchanged" for r in roles.values()) >= 20
    assert {c.kind for c in BENCH.COLUMNS if c.role == "unchanged"} == {"numeric",
                                                                        "categorical"}


@pytest.mark.parametrize("row", ["defaults", "defaults, reference_chunks",
                                 "skew end to end (status)"])
def test_defaults_flag_every_material_shift_and_nothing_else(
        judged: tuple[int, dict[str, Any]], row: str) -> None:
    rows, verdicts = judged
    counts = BENCH.confusion(verdicts[row])
    assert {k: counts[k] for k in TARGET} == TARGET, (rows, row, verdicts[row])
    # exact, seeded counts: the numeric material shifts fail; the categorical share move of
    # 0.20 -> 0.35 warns (JS 0.14), the new categories fail (JS 0.23)
    assert (counts["material_fail"], counts["material_warn"]) == (6, 1)
    assert counts["borderline_pass"] == 1
    assert (counts["negligible_pass"], counts["unchanged_pass"]) == (3, 23)


def test_the_old_numeric_default_misses_material_shifts(judged: tuple[int, dict[str, Any]]
                                                        ) -> None:
    """The evidence for the change: PSI 0.1 / 0.25 passes a 0.25-sd mean shift, sd x1.3 and
    the log-normal sigma change at every size; W1 / std fails all five numeric ones."""
    _, verdicts = judged
    psi = {c: s for c, (s, _) in verdicts["psi"].items()}
    assert {psi[c] for c in ("mean_shift_0.25sd", "sd_x1.3", "lognormal_sigma")} == {"pass"}
    wasserstein = BENCH.confusion(verdicts["wasserstein (W1 / std)"])
    assert (wasserstein["material_fail"], wasserstein["material_pass"]) == (5, 0)
    assert wasserstein["target"] == 1


def test_without_the_floor_chunk_thresholds_fail_the_borderline_shift(
        judged: tuple[int, dict[str, Any]]) -> None:
    _, verdicts = judged
    before = BENCH.confusion(verdicts["reference_chunks without the floor (before)"])
    assert before["borderline_fail"] == 1 and before["target"] == 0


@pytest.mark.parametrize(("higher_is_worse", "floor", "expected"), [
    (True, (0.1, 0.2), (0.1, 0.2)),  # a band tighter than the floor: the floor decides
    (False, (0.05, 0.01), (0.05, 0.01)),  # p-values: never below the fixed p
])
def test_a_narrow_chunk_band_is_floored(higher_is_worse: bool, floor: tuple[float, float],
                                        expected: tuple[float, float]) -> None:
    scores = [0.011, 0.012, 0.010, 0.013] if higher_is_worse else [0.5, 0.52, 0.49, 0.51]
    assert chunk_band_thresholds(scores, 3.0, floor, higher_is_worse) == expected


def test_a_wide_chunk_band_loosens_the_thresholds() -> None:
    scores = [0.05, 0.25, 0.10, 0.30, None, float("nan")]
    warn, fail = chunk_band_thresholds(scores, 3.0, (0.1, 0.2))
    assert fail == pytest.approx(data_driven_threshold(scores, k=3.0)) and fail > 0.2
    assert warn == pytest.approx(data_driven_threshold(scores, k=2.0)) and warn > 0.1
    p_values = [0.001, 0.2, 0.0, 0.4]  # p-values: a wide band lowers (loosens) the thresholds
    p_warn, p_fail = chunk_band_thresholds(p_values, 1.0, (0.05, 0.01), False)
    assert p_fail == pytest.approx(np.mean(p_values) - np.std(p_values)) and p_fail < 0.01
    assert p_warn == pytest.approx(min(np.mean(p_values), 0.05))  # k - 1 = 0: the mean
    assert chunk_band_thresholds([0.3], 3.0, (0.1, 0.2)) == (0.1, 0.2)  # one score: floor


@pytest.mark.parametrize("column", ["count_poisson", "u_age", "u_rounded", "u_normal_nulls",
                                    "lognormal_sigma", "u_heavy_tail", "u_mostly_zero"])
def test_w1_over_std_matches_scipy_on_the_generators_columns(
        judged: tuple[int, dict[str, Any]], column: str) -> None:
    """The default measure against scipy.stats.wasserstein_distance / numpy's std (ddof 0) on
    the very rows the benchmark stored: integer ties, rounded values, nulls, heavy tails."""
    rows, verdicts = judged
    if rows > BENCH.PART_ROWS:
        pytest.skip("one part only")
    ref = BENCH.draw_part(rows, 15, False, 0)[column].drop_nulls().to_numpy()
    cur = BENCH.draw_part(rows, 15, True, rows)[column].drop_nulls().to_numpy()
    _, score = verdicts["defaults"][column]
    assert score == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref), rel=0.01)
    if len(np.unique(ref)) <= 1000:  # every reference value is an edge: exact
        assert score == pytest.approx(wasserstein_distance(ref, cur) / np.std(ref), rel=1e-6)


def test_benchmark_prints_a_table_per_size(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "argv", ["drift_defaults.py", "--sizes", "10000",
                                      "--keep", str(tmp_path)])
    BENCH.main()
    out = capsys.readouterr().out
    assert "10,000 rows per side" in out and out.count("| met |") >= 4
    assert "| defaults | 6 / 1 / 0 | 1 / 0 / 0 | 0 / 3 | 0 / 23 | met |" in out
