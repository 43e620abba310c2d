"""The metric catalogue: every metric declared once, with what every command needs to know of it.

A metric is one `Metric` record in CATALOGUE, in the order reports list it. The task modules
(`binary`, `multiclass`, `regression`, `ranking`) take their metric lists from here and compute
the values (each module's `finalize` has one builder per catalogued metric of its task, a test
holds them equal); the analyses read direction, proportion, needs-score, the task's default
metric and the paired test from here; `settings` checks metric names against it.

Per-row terms live here too, once: `log_loss_term`, `squared_error`, `absolute_error`. The
binary metrics, the paired tests (`stats.paired`) and slice discovery's per-row error
(`analyses.slices.error_expr`) all build their expressions with them.

To add a metric: add its record here (and its per-row term, if it has one), then its builder
in the task module's `finalize`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

CLIP = 1e-15  # log loss clips probabilities to [CLIP, 1 - CLIP], as scikit-learn did

RowTerm = Callable[["pl.Expr", "pl.Expr"], "pl.Expr"]


def log_loss_term(label: pl.Expr, score: pl.Expr) -> pl.Expr:
    """−log of the probability given to the true class, the score clipped to [CLIP, 1 − CLIP]:
    −log p for label 1, −log(1 − p) for label 0; null when the label or score is null."""
    import polars as pl  # polars is only needed once an expression is built (start-up time)

    clipped = score.clip(CLIP, 1.0 - CLIP)
    chance = pl.when(label == 1).then(clipped).when(label.is_not_null()).then(1.0 - clipped)
    return -chance.log()


def correct_term(label: pl.Expr, predicted: pl.Expr) -> pl.Expr:
    """1.0 where the predicted class equals the label (compared as text, so 1 and "1" agree),
    0.0 where it does not, null when either is null: accuracy's term."""
    import polars as pl  # polars is only needed once an expression is built (start-up time)

    return pl.when(label.is_null() | predicted.is_null()).then(None) \
        .otherwise((predicted.cast(pl.String) == label.cast(pl.String)).cast(pl.Float64))


def squared_error(label: pl.Expr, predicted: pl.Expr) -> pl.Expr:
    """(predicted − label)²: Brier's term for a probability, the MSE's for a value."""
    return (predicted - label) ** 2


def absolute_error(label: pl.Expr, predicted: pl.Expr) -> pl.Expr:
    """|predicted − label|: the MAE's term."""
    return (predicted - label).abs()


@dataclass(frozen=True)
class Metric:
    """One metric of one task.

    `lower_is_better`: its direction; `proportion`: a share of trials (successes / trials, with
    a Wilson interval and two-proportion tests); `needs_score`: computed from the score column
    (binary probabilities), not from predictions alone; `default`: the task's metric when none
    is named; `paired`: the family of its paired test in `compare` (`stats.paired`), or
    None; `row_term`: the per-row term (label, score or prediction) whose mean (rmse: whose
    mean's square root) is the metric, or None when the metric is not built from one;
    `decomposable`: the metric is exactly the mean of its `row_term` over labelled rows, so a
    segment's contribution adds up (what `rca` decomposes); `main`: one of the task's main
    metrics, the ones `validate` judges when the config names none.
    """

    name: str
    task: str
    lower_is_better: bool = False
    proportion: bool = False
    needs_score: bool = False
    default: bool = False
    paired: str | None = None
    row_term: RowTerm | None = None
    decomposable: bool = False
    main: bool = False


BINARY, MULTICLASS = "binary_classification", "multiclass_classification"
REGRESSION, RANKING = "regression", "ranking"

CATALOGUE: tuple[Metric, ...] = (
    Metric("accuracy", BINARY, proportion=True, default=True, paired="mcnemar",
           row_term=correct_term, decomposable=True, main=True),
    Metric("precision", BINARY, proportion=True, paired="cells"),
    Metric("recall", BINARY, proportion=True, paired="cells"),
    Metric("f1", BINARY, paired="cells"),
    Metric("positive_rate", BINARY, proportion=True),
    Metric("roc_auc", BINARY, needs_score=True, paired="delong", main=True),
    Metric("average_precision", BINARY, needs_score=True),
    Metric("log_loss", BINARY, lower_is_better=True, needs_score=True, paired="moments",
           row_term=log_loss_term, decomposable=True, main=True),
    Metric("brier", BINARY, lower_is_better=True, needs_score=True, paired="moments",
           row_term=squared_error, decomposable=True),
    Metric("ece", BINARY, lower_is_better=True, needs_score=True),
    Metric("accuracy", MULTICLASS, proportion=True, default=True, paired="mcnemar",
           row_term=correct_term, decomposable=True, main=True),
    Metric("macro_f1", MULTICLASS, paired="cells", main=True),
    Metric("weighted_f1", MULTICLASS, paired="cells"),
    Metric("macro_roc_auc", MULTICLASS, needs_score=True),  # one-vs-rest, from `scores:`
    Metric("mae", REGRESSION, lower_is_better=True, paired="moments", row_term=absolute_error,
           decomposable=True, main=True),
    Metric("rmse", REGRESSION, lower_is_better=True, default=True, paired="moments",
           row_term=squared_error, main=True),
    Metric("mape", REGRESSION, lower_is_better=True, paired="moments"),
    Metric("r2", REGRESSION, paired="moments"),
    Metric("mean_error", REGRESSION),
    Metric("ndcg", RANKING, default=True, main=True),
    Metric("mrr", RANKING, main=True),
    Metric("hit_rate", RANKING, proportion=True),
)

TASK_NAMES: tuple[str, ...] = tuple(dict.fromkeys(m.task for m in CATALOGUE))
BY_TASK: dict[str, dict[str, Metric]] = {
    task: {m.name: m for m in CATALOGUE if m.task == task} for task in TASK_NAMES}
METRIC_NAMES: dict[str, tuple[str, ...]] = {task: tuple(by) for task, by in BY_TASK.items()}
LOWER_IS_BETTER = frozenset(m.name for m in CATALOGUE if m.lower_is_better)
PROPORTION_METRICS = frozenset(m.name for m in CATALOGUE if m.proportion)
DEFAULT_METRIC = {m.task: m.name for m in CATALOGUE if m.default}
PAIRED_FAMILY = {(m.task, m.name): m.paired for m in CATALOGUE if m.paired}


def decomposable_metrics(task: str) -> tuple[str, ...]:
    """The task's metrics that are means of a per-row term (catalogue order)."""
    return tuple(m.name for m in BY_TASK.get(task, {}).values() if m.decomposable)


def main_metrics(task: str) -> tuple[str, ...]:
    """The task's main metrics: its default first, then the others in catalogue order."""
    mains = [m.name for m in BY_TASK.get(task, {}).values() if m.main]
    return tuple(sorted(mains, key=lambda name: name != DEFAULT_METRIC.get(task)))


def describe_metrics(names: dict[str, tuple[str, ...]]) -> str:
    """Per-task metric names in words for help texts: `binary: accuracy, roc_auc; …`."""
    short = {BINARY: "binary", MULTICLASS: "multiclass", REGRESSION: "regression",
             RANKING: "ranking"}
    return "; ".join(f"{short[task]}: {', '.join(found)}" for task, found in names.items()
                     if found)


def score_metrics(task: str) -> frozenset[str]:
    """The task's metrics that need a score column."""
    return frozenset(m.name for m in BY_TASK[task].values() if m.needs_score)


def needs_score(task: str, metric: str) -> bool:
    """Whether `metric` of `task` is computed from the score column."""
    found = BY_TASK.get(task, {}).get(metric)
    return found is not None and found.needs_score
