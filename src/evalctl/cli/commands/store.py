"""Store commands: init, ingest, ingest-actuals, catalog, batches [remove], files, gc,
erase, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evalctl import api
from evalctl.cli.options import FailOn, Format, Model, OptionalModel, Output
from evalctl.cli.output import emit
from evalctl.cli.state import AppState
from evalctl.errors import ExitCode, InputError

Files = Annotated[list[str], typer.Argument(
    help="CSV, Parquet or JSON-lines exports (files or s3:// URLs).")]
InputFormat = Annotated[str | None, typer.Option(
    "--input-format", help="csv | parquet | jsonl (default: from the file extension).")]


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("ingest")(ingest)
    app.command("ingest-actuals")(ingest_actuals)
    app.command("catalog")(catalog)
    batches_app = typer.Typer(invoke_without_command=True, rich_markup_mode=None,
                              help=batches.__doc__)
    batches_app.callback()(batches)
    batches_app.command("remove")(remove)
    app.add_typer(batches_app, name="batches")
    app.command("files")(files)
    app.command("gc")(gc)
    app.command("erase")(erase)
    app.command("doctor")(doctor)


def init(ctx: typer.Context,
         directory: Annotated[str, typer.Argument(
             help="Folder (or s3://bucket/prefix URL) of the new store.")] = "evalstore",
         no_config: Annotated[bool, typer.Option("--no-config",
                                                 help="Do not write a starter config.")] = False,
         fmt: Format = None, output: Output = None) -> None:
    """Create a store and a starter config beside it.

    \b
    Example:
      evalctl init ./evalstore
    """
    state: AppState = ctx.obj
    emit(state, api.init_store(directory, write_config=not no_config), fmt, output)


def ingest(ctx: typer.Context, files: Files, model: Model,
           version: Annotated[str, typer.Option("--version", "-v", help="Model version.")],
           env: Annotated[str, typer.Option(
               "--env", "-e", help="training | validation | production | shadow.")],
           input_format: InputFormat = None,
           engine: Annotated[str, typer.Option(
               "--engine", help="Where the batch is written: local (the default), spark (Spark "
               "executors write it, the config's `engine:` names the master; the store must "
               "be an s3:// store unless the master is local), or auto (spark when the "
               "config's engine.kind is spark).")] = "local",
           fmt: Format = None, output: Output = None) -> None:
    """Ingest prediction exports as one batch (re-ingesting the same files is a no-op).

    \b
    Example:
      evalctl ingest production.csv --model churn --version v1 --env production
      evalctl ingest exports/*.parquet --model churn --version v1 --env production --engine spark
    """
    state: AppState = ctx.obj
    workspace = state.workspace()
    with state.busy(f"ingesting {len(files)} file(s) …"):
        report = workspace.ingest(model, files, version=version, env=env,
                                  input_format=input_format, engine=engine)
    _say_ingested(state, report.results[0], f"{model} {version} {env}")
    emit(state, report, fmt, output)


def ingest_actuals(ctx: typer.Context, files: Files, model: Model,
                   input_format: InputFormat = None,
                   engine: Annotated[str, typer.Option(
                       "--engine", help="Where the batch is written: local (the default), "
                       "spark (Spark executors write it, as for `ingest --engine spark`), or "
                       "auto (spark when the config's engine.kind is spark).")] = "local",
                   fmt: Format = None, output: Output = None) -> None:
    """Ingest delayed ground truth: the id, the label and optionally when it arrived.

    \b
    Example:
      evalctl ingest-actuals labels.csv --model churn
      evalctl ingest-actuals exports/labels-*.parquet --model churn --engine spark
    """
    state: AppState = ctx.obj
    report = state.workspace().ingest_actuals(model, files, input_format=input_format,
                                              engine=engine)
    _say_ingested(state, report.results[0], f"{model} actuals")
    emit(state, report, fmt, output)


def _say_ingested(state: AppState, row: dict[str, object], what: str) -> None:
    if row["already_ingested"]:
        state.warn(f"already ingested: batch {row['batch']} ({what}); nothing to do")
        return
    state.warn(f"ingested {row['rows']:,} rows into {len(row['dates'])} partition(s) "  # type: ignore[arg-type]
               f"as batch {row['batch']} ({what})")
    if row.get("dropped_columns"):
        state.warn("columns not in the config were not stored: "
                   + ", ".join(row["dropped_columns"]))  # type: ignore[arg-type]
    repeated, stored = row.get("repeated_ids") or 0, row.get("ids_in_store") or 0
    if repeated or stored:
        parts = [f"{repeated:,} row(s) repeat an id of this batch"] if repeated else []
        parts += [f"{stored:,} row(s) have an id already stored for {what} on the same dates"
                  ] if stored else []
        state.warn("warning: " + "; ".join(parts) + " (ids should be unique per prediction: "
                   "every report counts each row)")
    unmatched = row.get("unmatched_ids") or 0
    if unmatched:
        state.warn(f"warning: {unmatched:,} id(s) match no stored prediction of the model yet "
                   "(kept: they join when their predictions are ingested)")


def catalog(ctx: typer.Context, model: OptionalModel = None, fmt: Format = None,
            output: Output = None) -> None:
    """Models, versions, envs, date ranges, rows and batches in the store.

    \b
    Example:
      evalctl catalog --model churn --format json
    """
    state: AppState = ctx.obj
    emit(state, state.workspace().catalog(model), fmt, output)


def batches(ctx: typer.Context, model: OptionalModel = None, fmt: Format = None,
            output: Output = None) -> None:
    """The ledger: the live batches (one commit record per ingest call), oldest first.

    `evalctl batches remove BATCH...` removes batches.

    \b
    Example:
      evalctl batches --model churn
      evalctl batches remove 3f9c2a1b
    """
    if ctx.invoked_subcommand is not None:
        return
    state: AppState = ctx.obj
    emit(state, state.workspace().batches(model), fmt, output)


DryRun = Annotated[bool, typer.Option("--dry-run", "-n",
                                      help="Show what would be removed; change nothing.")]


def remove(ctx: typer.Context,
           batch_ids: Annotated[list[str], typer.Argument(
               help="Batch ids (or unique prefixes of at least 4 characters).",
               metavar="BATCH")],
           dry_run: DryRun = False, fmt: Format = None, output: Output = None) -> None:
    """Remove batches as one commit (a tombstone); readers never see half of it.

    The files are deleted later by `evalctl doctor --repair`, after the grace period.
    Ingesting the same export again afterwards commits it anew.

    \b
    Example:
      evalctl batches remove 3f9c2a1b --dry-run
    """
    state: AppState = ctx.obj
    report = state.workspace().remove(batch_ids, dry_run=dry_run)
    _say_removed(state, report.summary)
    emit(state, report, fmt, output)


def gc(ctx: typer.Context,
       older_than: Annotated[str, typer.Option(
           "--older-than", help="Remove batches whose newest date is older than this (400d).")],
       env: Annotated[str | None, typer.Option(
           "--env", "-e", help="Only prediction batches of this env.")] = None,
       model: OptionalModel = None, dry_run: DryRun = False, fmt: Format = None,
       output: Output = None) -> None:
    """Retention: remove whole batches older than a cut-off, as one commit.

    Batches with dates on both sides of the cut-off are kept and reported.

    \b
    Example:
      evalctl gc --older-than 400d --env production --dry-run
    """
    state: AppState = ctx.obj
    report = state.workspace().gc(older_than, env=env, model=model, dry_run=dry_run)
    _say_removed(state, report.summary)
    emit(state, report, fmt, output, "never")


def erase(ctx: typer.Context, model: Model,
          ids: Annotated[Path, typer.Option(
              "--ids", help="Ids to erase: one per line, or a CSV/Parquet/JSON-lines file "
              "with the model's id column.")],
          dry_run: DryRun = False, fmt: Format = None, output: Output = None) -> None:
    """Erase every row of some ids from predictions and actuals, as one commit.

    Affected files are rewritten; the old ones are deleted by `evalctl doctor --repair`
    after the grace period.

    \b
    Example:
      evalctl erase --model churn --ids forget-me.txt
    """
    state: AppState = ctx.obj
    report = state.workspace().erase(model, ids, dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    state.warn(f"{verb} {report.summary['rows']:,} row(s) of {report.summary['ids']:,} id(s) "
               f"in {report.summary['batches']} batch(es)")
    emit(state, report, fmt, output)


def _say_removed(state: AppState, summary: dict[str, object]) -> None:
    verb = "would remove" if summary["dry_run"] else "removed"
    state.warn(f"{verb} {summary['batches']} batch(es), {summary['rows']:,} rows"
               + (f" (tombstone {summary['tombstone']})" if summary["tombstone"] else ""))


def files(ctx: typer.Context, model: Model,
          selector: Annotated[str | None, typer.Option(
              "--selector", "-S", help="Selector ENV[:VERSION][@RANGE].")] = None,
          actuals: Annotated[bool, typer.Option(
              "--actuals", help="The model's delayed ground truth instead.")] = False,
          plain: Annotated[bool, typer.Option(
              "--plain", help="One absolute path per line, nothing else.")] = False,
          fmt: Format = None, output: Output = None) -> None:
    """The committed data files of a selection: what DuckDB, Spark or pandas should read.

    A glob over the partition folders also sees uncommitted, duplicate and removed files.

    \b
    Example:
      evalctl files --model churn --selector production@last-30d --plain
    """
    state: AppState = ctx.obj
    report = state.workspace().files(model, selector, actuals=actuals)
    if plain and (fmt is not None or output is not None):
        raise InputError("--plain: prints paths to stdout; drop --format/--output")
    if plain:
        state.stdout.write("".join(f"{r['path']}\n" for r in report.results))
        return
    emit(state, report, fmt, output)


def doctor(ctx: typer.Context,
           repair: Annotated[bool, typer.Option(
               "--repair", help="Remove orphans and, after the grace period, the files of "
               "removed batches (never a live committed file).")] = False,
           grace: Annotated[str | None, typer.Option(
               "--grace", help="Remove orphans, and removed batches' files, older than this "
               "(0s, 2h, 7d; default: EVALCTL_GRACE, else 7d).")] = None,
           fmt: Format = None, output: Output = None, fail_on: FailOn = "fail") -> None:
    """Validate the ledger, verify every committed file (checksum, row count), list orphans.

    Exit 3 when a ledger record is invalid or a committed file is missing or altered.

    \b
    Example:
      evalctl doctor --repair
    """
    state: AppState = ctx.obj
    with state.busy("verifying checksums …"):
        report = state.workspace().doctor(repair=repair, grace=grace)
    emit(state, report, fmt, output, fail_on)
    if report.status == "fail":
        state.exit_code = int(ExitCode.STORE_DAMAGED)
