"""`evalctl compare`."""

from __future__ import annotations

from typing import Annotated

import typer

from evalctl.cli.options import AsOf, FailOn, Format, Model, Output
from evalctl.cli.output import emit
from evalctl.cli.state import AppState
from evalctl.metrics.catalogue import DEFAULT_METRIC, describe_metrics


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(ctx: typer.Context, model: Model,
            champion: Annotated[str, typer.Option(
                "--champion", help="The live version (rows from the selector's env).")],
            challenger: Annotated[list[str], typer.Option(
                "--challenger", help="A candidate version (rows from shadow, or from the "
                "selector's env if it was live); repeat for several.")],
            selector: Annotated[str, typer.Option(
                "--selector", "-S", help="Traffic window ENV[@RANGE], e.g. "
                "production@last-14d (no version).")],
            metric: Annotated[str | None, typer.Option(
                "--metric", help="Compared metric (default checks.compare.metric, else per task "
                "— " + describe_metrics({t: (m,) for t, m in DEFAULT_METRIC.items()}) + ").")
            ] = None,
            gate: Annotated[bool, typer.Option(
                "--gate", help="Fail (exit 1) unless the recommended challenger is "
                "significantly better and regresses no slice beyond the tolerance.")] = False,
            discover: Annotated[bool, typer.Option(
                "--discover", help="Also compare on the champion's SliceLine slices.")
            ] = False,
            n_boot: Annotated[int | None, typer.Option(
                "--n-boot", help="Bootstrap replicates (default checks.compare.n_boot, "
                "else 1000).")] = None,
            seed: Annotated[int, typer.Option("--seed", min=0, help="Bootstrap seed.")] = 0,
            as_of: AsOf = None, fmt: Format = None, output: Output = None,
            fail_on: FailOn = "fail") -> None:
    """Which challenger would have done best on real traffic? Champion vs shadow models.

    Every model is joined on the id with the ground truth and compared on the common rows,
    overall and per declared slice: each model's metric with its interval, the difference
    against the champion and a paired test (McNemar for accuracy, DeLong for ROC AUC, paired
    bootstrap otherwise), Holm-adjusted across slices. Ends with a verdict: promote, promote
    with caution, or keep the champion. Without labels: agreement between the models.

    \b
    Example:
      evalctl compare --model tv-recommender --champion v1 --challenger v2 \\
          --selector production@last-14d
      evalctl compare --model tv-recommender --champion v1 --challenger v2 \\
          --challenger v3 --selector production@last-14d --metric roc_auc --gate
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("comparing models …"):
        report = workspace.compare(model, selector, champion=champion, challengers=challenger,
                                   metric=metric, gate=gate, discover=discover, n_boot=n_boot,
                                   seed=seed, as_of=as_of.date() if as_of else None)
    emit(state, report, fmt, output, fail_on)
