"""`evalctl slices` and `evalctl validate`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import AsOf, FailOn, Format, Model, Output
from evalctl.cli.output import emit
from evalctl.cli.state import AppState
from evalctl.metrics.catalogue import DEFAULT_METRIC, describe_metrics

SelectorOpt = Annotated[str, typer.Option(
    "--selector", "-S", help="Selector ENV[:VERSION][@RANGE].")]


def register(app: typer.Typer) -> None:
    app.command("slices")(slices)
    app.command("validate")(validate)


def slices(ctx: typer.Context, model: Model, selector: SelectorOpt,
           metric: Annotated[str | None, typer.Option(
               "--metric", help="Metric to rank by (default per task — "
               + describe_metrics({t: (m,) for t, m in DEFAULT_METRIC.items()}) + ").")] = None,
           top: Annotated[int, typer.Option(
               "--top", min=0, help="Worst declared segments shown (0: all).")] = 10,
           min_size: Annotated[int | None, typer.Option(
               "--min-size", min=1, help="Segments with fewer labelled rows are not judged.")
           ] = None,
           discover: Annotated[bool, typer.Option(
               "--discover", help="Also find slices automatically (SliceLine).")] = False,
           alpha: Annotated[float | None, typer.Option(
               "--alpha", min=0.0, max=1.0,
               help="SliceLine weight of error vs size, in (0, 1] (default 0.95).")] = None,
           max_level: Annotated[int | None, typer.Option(
               "--max-level", min=1, help="SliceLine: most features in one slice (default 3).")
           ] = None,
           min_support: Annotated[float | None, typer.Option(
               "--min-support", help="SliceLine: fewest rows (or a fraction < 1).")] = None,
           error: Annotated[str | None, typer.Option(
               "--error", help="Per-row error for discovery: misclassification | squared | "
               "log_loss.")] = None,
           compare_to: Annotated[str | None, typer.Option(
               "--compare-to", help="Flag segments that got significantly worse than in this "
               "selector.")] = None,
           as_of: AsOf = None, fmt: Format = None, output: Output = None,
           fail_on: FailOn = "fail") -> None:
    """Where does the model perform worst? A leaderboard of slices, worst first.

    Declared slices come from the config; --discover adds SliceLine's automatically found
    conjunctions, each tested against the rest with Benjamini-Hochberg control. Segments
    significantly worse than the rest are `warn`.

    \b
    Example:
      evalctl slices --model tv-recommender --selector production@2026-11-15..2026-11-25
      evalctl slices --model tv-recommender --selector production@last-7d --discover \\
          --compare-to production@2026-11-01..2026-11-14
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("computing slice metrics …"):
        report = workspace.slices(model, selector, compare_to=compare_to or None,
                                  metric=metric, top=top, min_size=min_size, discover=discover,
                                  alpha=alpha, max_level=max_level, min_support=min_support,
                                  error=error, as_of=as_of.date() if as_of else None)
    emit(state, report, fmt, output, fail_on)


def validate(ctx: typer.Context, model: Model,
             candidate: Annotated[str, typer.Option("--candidate", help="New version.")],
             baseline: Annotated[str, typer.Option("--baseline", help="Current version.")],
             selector: SelectorOpt = "validation",
             top: Annotated[int, typer.Option(
                 "--top", min=0, help="Rows shown besides the failing ones (0: all).")] = 0,
             as_of: AsOf = None, fmt: Format = None,
             output: Output = None, fail_on: FailOn = "fail") -> None:
    """Did the candidate version regress anywhere? The CI gate for a model PR.

    Both versions' predictions on the same rows (joined by id), overall and per declared
    slice, against the gate in checks.validate (minimum per metric, maximum drop per slice,
    minimum slice size). Exit 1 naming the regressed slices.

    \b
    Example:
      evalctl validate --model tv-recommender --candidate v2 --baseline v1 --selector validation
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("validating …"):
        report = workspace.validate(model, candidate=candidate, baseline=baseline,
                                    selector=selector, top=top,
                                    as_of=as_of.date() if as_of else None)
    emit(state, report, fmt, output, fail_on)
