"""Options defined once and reused by every command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

Format = Annotated[str | None, typer.Option(
    "--format", "-f",
    help="table | json | markdown | html (default: table on a terminal, else json).")]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write the report to FILE (whole or not at all) instead of stdout; "
    "the format follows the extension: .json (or none), .md, .txt, .html. '-' is stdout.")]
FailOn = Annotated[str, typer.Option(
    "--fail-on", help="What turns into exit 1: fail | warn | never.")]
Model = Annotated[str, typer.Option("--model", "-m", help="Model name from the config.")]
OptionalModel = Annotated[str | None, typer.Option(
    "--model", "-m", help="Only this model.")]
AsOf = Annotated[datetime | None, typer.Option(
    "--as-of", formats=["%Y-%m-%d"], help="Date that last-Nd counts back from (default today).")]
Current = Annotated[str, typer.Option(
    "--current", "-C", help="Current selector ENV[:VERSION][@RANGE].")]
Window = Annotated[str | None, typer.Option(
    "--window", "-w", help="Calendar window: 1h, 1d, 7d … (default: config, 1d).")]
Windows = Annotated[int | None, typer.Option(
    "--windows", help="Instead: N equal-row chunks in timestamp order.")]
MinRows = Annotated[int | None, typer.Option(
    "--min-rows", min=0,
    help="Windows with fewer rows are not judged (default 100).")]
