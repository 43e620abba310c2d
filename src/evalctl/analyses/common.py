"""Pieces shared by the analyses: which columns are checked, per-feature rules, the summary."""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

from evalctl.config import ModelConfig, output_kinds
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.reports.model import worst_status
from evalctl.settings.sections import DriftSettings


def checked_columns(model: ModelConfig, settings: DriftSettings) -> dict[str, str]:
    """Features plus the model's outputs (checked exactly like features), minus ignored ones."""
    kinds = {**model.features, **output_kinds(model.task, model.score, model.prediction,
                                                       model.scores)}
    return {c: k for c, k in kinds.items() if not settings.rule(c).ignore}


def method_for(column: str, kind: str, settings: DriftSettings) -> str | None:
    """The per-feature method, else the config's default for the kind, else the registry's."""
    rule = settings.rule(column)
    return rule.method or (settings.numeric if kind == "numeric" else settings.categorical)


def open_side(store: Store, model: ModelConfig, selector: Selector
              ) -> tuple[Selection, pl.LazyFrame]:
    selection = store.select(model.name, selector)
    return selection, store.scan(model, selector, with_actuals=False, selection=selection)


def side_inputs(selection: Selection, *, compares_versions: bool = False) -> dict[str, Any]:
    """What one side of a comparison resolved to: its selector, rows, versions, first and last
    partition date, and a warning for each way it mixes data (several model versions, exports
    that lack columns others carry), so the reader knows what was compared. A selection whose
    versions are compared with each other (validate, compare) is meant to hold several."""
    dates = sorted(f.date for _, _, f in selection.files)
    mixed = [] if compares_versions else version_warnings(selection)
    return {"selector": selection.selector.text, "rows": selection.rows,
            "versions": selection.versions, "dates": [dates[0], dates[-1]],
            "warnings": mixed + shape_warnings(selection)}


def version_warnings(selection: Selection) -> list[str]:
    """One warning when a selector without a version matched rows of several versions."""
    rows: Counter[str] = Counter()
    for version, _, entry in selection.files:
        rows[version] += entry.rows
    if len(rows) < 2:
        return []
    selector = selection.selector
    example = f"{selector.env}:{min(rows)}" + (
        selector.text[selector.text.index("@"):] if "@" in selector.text else "")
    counts = ", ".join(f"{version} {n:,} rows" for version, n in sorted(rows.items()))
    return [f"{selector.text} mixes {len(rows)} model versions ({counts}); "
            f"name one to compare a single model, e.g. {example}"]


def shape_warnings(selection: Selection) -> list[str]:
    """A warning per set of columns that some selected batches' exports carried and others
    lacked (stored as nulls), with the rows affected and the batches they came from."""
    chosen = {entry.path for _, _, entry in selection.files}
    carried: dict[str, set[str]] = {}
    rows: dict[str, int] = {}
    for record in selection.records:
        if not record.sources:
            continue
        exported = set.intersection(*(set(s.get("columns", {})) for s in record.sources))
        carried[record.batch] = exported & set(record.schema)
        rows[record.batch] = sum(f.rows for f in record.files if f.path in chosen)
    if len(carried) < 2:
        return []
    every: set[str] = set().union(*carried.values())
    lacking: dict[tuple[str, ...], list[str]] = {}
    for column in sorted(every - every.intersection(*carried.values())):
        without = tuple(sorted(b for b, columns in carried.items() if column not in columns))
        lacking.setdefault(without, []).append(column)
    versions = {r.batch: r.version for r in selection.records}
    total = sum(rows.values())
    return [f"{selection.selector.text}: {sum(rows[b] for b in batches):,} of {total:,} rows "
            f"carry no {', '.join(columns)} (their export lacked it: "
            + ", ".join(f"batch {b[:8]} {versions[b]}" for b in batches) + ")"
            for batches, columns in lacking.items()]


def overall_status(results: list[dict[str, Any]]) -> str:
    return worst_status([r["status"] for r in results])


def chunk_index(timestamp: str, chunks: int) -> pl.Expr:
    """Equal-row chunks in timestamp order (NannyML's chunking): 0 .. chunks-1."""
    rank = pl.col(timestamp).rank("ordinal") - 1
    return (rank * chunks // pl.len()).cast(pl.Int32)
