"""`evalctl rca` and `evalctl export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalctl.cli.options import AsOf, FailOn, Format, Model, Output
from evalctl.cli.output import check_output_path, emit
from evalctl.cli.state import AppState
from evalctl.metrics.catalogue import TASK_NAMES, decomposable_metrics, describe_metrics


def register(app: typer.Typer) -> None:
    app.command("rca")(rca)
    app.command("export")(export)


def rca(ctx: typer.Context, model: Model,
        baseline: Annotated[str, typer.Option(
            "--baseline", "-B", help="Selector of the window before the change.")],
        current: Annotated[str, typer.Option(
            "--current", "-C", help="Selector of the window after the change.")],
        metric: Annotated[str | None, typer.Option(
            "--metric", help="A metric that is a mean over rows (first: the default) — "
            + describe_metrics({t: decomposable_metrics(t) for t in TASK_NAMES}) + ".")
        ] = None,
        reference: Annotated[str | None, typer.Option(
            "--reference", "-r", help="Pipeline check: compare both windows with this "
            "selector (default: training, skipped when the store has none).")] = None,
        top: Annotated[int | None, typer.Option(
            "--top", min=0, help="Segments listed (default 5).")] = None,
        multivariate: Annotated[bool, typer.Option(
            "--multivariate", help="Also rank features by a classifier's permutation "
            "importance (checks.rca.multivariate; needs the evalctl[multivariate] extra).")
        ] = False,
        as_of: AsOf = None, fmt: Format = None, output: Output = None,
        fail_on: FailOn = "fail") -> None:
    """Performance changed: which population shift or segment explains it, what to do?

    Measures the metric change with its confidence interval (and stops when it is within
    noise), then splits it per feature into a mix effect (the population moved between the
    feature's segments), a performance effect (the model changed inside them) and their
    interaction, which add up exactly to the change. Drift between the windows and skew of
    both against training tell a population shift from a pipeline problem. Exit 1 when the
    drop is significant and larger than checks.rca.max_drop (0.02).

    \b
    Example:
      evalctl rca --model tv-recommender --baseline production@2026-11-01..2026-11-14 \\
          --current production@2026-11-15..2026-11-25
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy("explaining the change …"):
        report = workspace.rca(model, baseline, current, reference=reference or None,
                               metric=metric, top=top, as_of=as_of.date() if as_of else None,
                               multivariate=multivariate)
    emit(state, report, fmt, output, fail_on)


def export(ctx: typer.Context, model: Model,
           selector: Annotated[str, typer.Option(
               "--selector", "-S", help="Selector ENV[:VERSION][@RANGE].")],
           out: Annotated[Path, typer.Option(
               "--out", help="Data file to write: .parquet or .csv.")],
           where: Annotated[str | None, typer.Option(
               "--where", help="Filter, e.g. \"age < 25 and country in ('BR', 'MX')\".")
           ] = None,
           segment: Annotated[str | None, typer.Option(
               "--segment", help="A segment id printed by `slices --discover` or `rca`, "
               "e.g. 'age=[-inf,28)'.")] = None,
           only_errors: Annotated[bool, typer.Option(
               "--only-errors", help="Only misclassified rows (regression: top decile of "
               "squared error).")] = False,
           sample: Annotated[int | None, typer.Option(
               "--sample", help="At most N rows, chosen by a seeded hash of the id.")] = None,
           seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of --sample.")] = 0,
           as_of: AsOf = None, fmt: Format = None, output: Output = None,
           fail_on: FailOn = "fail") -> None:
    """Write the examples behind a finding to Parquet or CSV (to augment a training set).

    Rows of the selection (id, timestamp, features, prediction, score, label when known)
    filtered by --where and/or --segment, optionally only the errors and a deterministic
    sample. The file is written to a temporary name and renamed, never left half-written;
    the store is only read. Prints a short report (rows written, file).

    \b
    Example:
      evalctl export --model tv-recommender --selector production@2026-11-15..2026-11-25 \\
          --segment 'age=[-inf,28)' --only-errors --out young-errors.parquet
      evalctl export --model tv-recommender --selector production@last-14d \\
          --where "age < 25 and device == 'mobile'" --sample 5000 --out young.csv
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    check_output_path(out, "--out")
    with state.busy("exporting …"):
        report = workspace.export(model, selector, out, where=where, segment=segment,
                                  only_errors=only_errors, sample=sample, seed=seed,
                                  as_of=as_of.date() if as_of else None)
    emit(state, report, fmt, output, fail_on)
