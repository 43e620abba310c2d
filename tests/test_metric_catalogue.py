"""The metric catalogue (`evalctl.metrics.catalogue`): every metric declared once, every one
computed, every command's metric metadata read from it, and one per-row log loss."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evalctl.analyses.slices import error_expr
from evalctl.config import ModelConfig
from evalctl.errors import ConfigError
from evalctl.metrics import METRICS, PROPORTION_METRICS, TASKS, compute_metrics
from evalctl.metrics.catalogue import (
    BY_TASK,
    CATALOGUE,
    CLIP,
    DEFAULT_METRIC,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    log_loss_term,
    needs_score,
)
from evalctl.stats.paired import FAMILY, moment_terms

SOURCE = Path(__file__).resolve().parents[1] / "src" / "evalctl"
RNG = np.random.default_rng(7)
N = 200

# One small frame per task on which every metric of the task is defined (two classes, nonzero
# labels, several queries with a relevant item each).
_y = np.tile([0, 1], N // 2)
_s = np.clip(RNG.uniform(0.0, 1.0, N) * 0.6 + _y * 0.3, 0.0, 1.0)
FIXTURES: dict[str, tuple[pl.DataFrame, dict[str, str]]] = {
    "binary_classification": (pl.DataFrame({"y": _y, "s": _s}),
                              {"label": "y", "score": "s"}),
    "multiclass_classification": (
        pl.DataFrame({"y": RNG.integers(0, 3, N), "p": RNG.integers(0, 3, N)}).with_columns(
            **{f"s{c}": pl.Series(v) for c, v in enumerate(RNG.dirichlet([1, 1, 1], N).T)}),
        {"label": "y", "prediction": "p", "scores": {"0": "s0", "1": "s1", "2": "s2"}}),
    "regression": (pl.DataFrame({"y": RNG.uniform(1.0, 5.0, N), "s": RNG.uniform(1.0, 5.0, N)}),
                   {"label": "y", "score": "s"}),
    "ranking": (pl.DataFrame({"q": np.repeat(np.arange(20), 10), "y": np.tile(
        [1, 0, 0, 2, 0, 0, 0, 1, 0, 0], 20), "s": RNG.uniform(0.0, 1.0, N)}),
        {"label": "y", "score": "s", "group": "q"}),
}

# Probabilities at and beyond the clipping bounds, and labels of both classes at each.
EDGE_Y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0], dtype=float)
EDGE_P = np.array([0.0, 1.0, 1.0, 0.0, 1e-300, 1 - 1e-17, 1e-15, 1 - 1e-15, 0.3, 0.7, 5e-16,
                   0.999999])


def _sklearn_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """scikit-learn's log loss of probabilities clipped to [1e-15, 1 - 1e-15] (the clipping
    scikit-learn < 1.5 applied itself; newer versions clip at the float epsilon, which leaves
    these clipped values as they are)."""
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))


def test_every_catalogued_metric_has_a_fixture_and_is_computed_by_compute_metrics() -> None:
    assert set(FIXTURES) == set(BY_TASK) == set(TASKS)
    for task, (frame, cols) in FIXTURES.items():
        out = compute_metrics(frame, task, **cols).filter(pl.col("slice") == "overall")
        assert out.get_column("metric").to_list() == list(METRIC_NAMES[task]), task
        missing = out.filter(pl.col("value").is_null()).get_column("metric").to_list()
        assert missing == [], f"{task}: no value for {missing}"


def test_the_task_modules_and_the_commands_read_the_catalogue() -> None:
    from evalctl.analyses import performance
    from evalctl.metrics import binary

    assert METRICS == {task: tuple(by) for task, by in BY_TASK.items()}
    for task, module in TASKS.items():
        assert module.METRICS == METRIC_NAMES[task]
        assert module.SCORE_METRICS == {m for m in METRIC_NAMES[task] if needs_score(task, m)}
    assert set(binary.BUILDERS) == set(METRIC_NAMES["binary_classification"])
    assert performance.LOWER_IS_BETTER is LOWER_IS_BETTER
    assert performance.DEFAULT_METRIC is DEFAULT_METRIC
    assert set(DEFAULT_METRIC) == set(BY_TASK)  # one default per task
    assert PROPORTION_METRICS == {"accuracy", "precision", "recall", "positive_rate", "hit_rate"}
    assert LOWER_IS_BETTER == {"log_loss", "brier", "ece", "mae", "rmse", "mape"}
    assert FAMILY == {(m.task, m.name): m.paired for m in CATALOGUE if m.paired}
    assert len({(m.task, m.name) for m in CATALOGUE}) == len(CATALOGUE)  # declared once


def test_settings_accept_every_catalogued_metric_and_name_the_valid_ones() -> None:
    from evalctl.settings.checks import check_metric

    for m in CATALOGUE:
        check_metric("checks.slices.metric", m.name, m.task)
    with pytest.raises(ConfigError, match=r"checks\.slices\.metric: 'roc_auc' is not a "
                                          r"regression metric \(valid: mae, rmse"):
        check_metric("checks.slices.metric", "roc_auc", "regression")


def test_log_loss_equals_scikit_learn_with_clipping_edge_cases() -> None:
    expected = _sklearn_log_loss(EDGE_Y, EDGE_P)
    frame = pl.DataFrame({"y": EDGE_Y, "s": EDGE_P})
    # by hand: -log of the clipped probability of the true class
    clipped = np.clip(EDGE_P, CLIP, 1 - CLIP)
    assert expected == pytest.approx(-np.mean(np.log(np.where(EDGE_Y == 1, clipped,
                                                               1 - clipped))), rel=1e-12)
    # the metric
    out = compute_metrics(frame, "binary_classification", label="y", score="s",
                          metrics=["log_loss"])
    assert out.row(0, named=True)["value"] == pytest.approx(expected, rel=1e-12)
    # the paired test's per-row terms (both models)
    terms = frame.select(term.alias(f"t{i}") for i, term in enumerate(
        moment_terms("log_loss", pl.col("y"), pl.col("s"), pl.col("s"))))
    assert [float(c.mean()) for c in terms.get_columns()] == pytest.approx([expected] * 2,
                                                                            rel=1e-12)
    # slice discovery's per-row error
    model = ModelConfig("m", "binary_classification", "id", "ts", {}, score="s", label="y")
    error = frame.select(error_expr(model, "log_loss")).to_series()
    assert float(error.mean()) == pytest.approx(expected, rel=1e-12)


def test_the_log_loss_term_is_null_without_a_label_and_finite_at_the_bounds() -> None:
    frame = pl.DataFrame({"y": [None, 1.0, 0.0], "s": [0.5, 0.0, 1.0]})
    values = frame.select(log_loss_term(pl.col("y"), pl.col("s"))).to_series().to_list()
    assert values[0] is None
    assert values[1] == -np.log(CLIP)
    assert values[2] == -np.log(1.0 - (1.0 - CLIP))  # 1 - CLIP rounds: ~1.11e-15 is left


def test_log_loss_is_implemented_once() -> None:
    """The clipping constant appears in one module: the catalogue's `log_loss_term`. (It was
    written out in metrics/binary, stats/paired and analyses/slices.error_expr.)"""
    holders = sorted(
        str(path.relative_to(SOURCE)) for path in SOURCE.rglob("*.py")
        if any(isinstance(node, ast.Constant) and node.value == CLIP
               for node in ast.walk(ast.parse(path.read_text())))
    )
    assert holders == ["metrics/catalogue.py"]


def test_every_decomposable_metric_is_the_mean_of_its_row_term() -> None:
    """`rca` decomposes a metric as the mean of its catalogued per-row term: on every task's
    fixture (a null label added) that mean equals the task module's value."""
    from evalctl.metrics.catalogue import decomposable_metrics

    decomposable = {t: decomposable_metrics(t) for t in BY_TASK}
    assert decomposable == {"binary_classification": ("accuracy", "log_loss", "brier"),
                            "multiclass_classification": ("accuracy",),
                            "regression": ("mae",), "ranking": ()}
    for task, names in decomposable.items():
        if not names:
            continue
        frame, cols = FIXTURES[task]
        frame = pl.concat([frame, frame.head(1).with_columns(pl.lit(None).alias("y"))],
                          how="vertical_relaxed")
        expected = dict(compute_metrics(frame, task, **cols)
                        .filter(pl.col("slice") == "overall").select("metric", "value").rows())
        for name in names:
            metric = BY_TASK[task][name]
            assert metric.row_term is not None
            if needs_score(task, name) or task == "regression":
                predicted = pl.col(cols["score"])
            elif "prediction" in cols:
                predicted = pl.col(cols["prediction"])
            else:
                predicted = (pl.col(cols["score"]) >= 0.5).cast(pl.Int8)
            terms = frame.select(metric.row_term(pl.col("y"), predicted).alias("t"))["t"]
            assert terms[-1] is None, (task, name)  # no label, no term
            assert terms.mean() == pytest.approx(expected[name], rel=1e-12), (task, name)


def test_main_metrics_put_the_default_first() -> None:
    from evalctl.metrics.catalogue import main_metrics

    assert main_metrics("binary_classification") == ("accuracy", "roc_auc", "log_loss")
    assert main_metrics("multiclass_classification") == ("accuracy", "macro_f1")
    assert main_metrics("regression") == ("rmse", "mae")
    assert main_metrics("ranking") == ("ndcg", "mrr")
    for task in BY_TASK:
        assert main_metrics(task)[0] == DEFAULT_METRIC[task]
