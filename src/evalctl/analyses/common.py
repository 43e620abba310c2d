"""Pieces shared by the analyses: which columns are checked, per-feature rules, the summary."""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl

from evalctl.check_settings import DriftSettings
from evalctl.config import ModelConfig, output_kinds
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store
from evalctl.reports.model import worst_status


def checked_columns(model: ModelConfig, settings: DriftSettings) -> dict[str, str]:
    """Features plus the model's outputs (checked exactly like features), minus ignored ones."""
    kinds = {**model.features, **output_kinds(model.task, model.score, model.prediction)}
    return {c: k for c, k in kinds.items() if not settings.rule(c).ignore}


def method_for(column: str, kind: str, settings: DriftSettings) -> str | None:
    """The per-feature method, else the config's default for the kind, else the registry's."""
    rule = settings.rule(column)
    return rule.method or (settings.numeric if kind == "numeric" else settings.categorical)


def open_side(store: Store, model: ModelConfig, selector: Selector
              ) -> tuple[Selection, pl.LazyFrame]:
    selection = store.select(model.name, selector)
    return selection, store.scan(model, selector, with_actuals=False, selection=selection)


def side_inputs(selection: Selection) -> dict[str, Any]:
    return {"selector": selection.selector.text, "rows": selection.rows,
            "versions": selection.versions,
            "dates": [min(f.date for _, _, f in selection.files),
                      max(f.date for _, _, f in selection.files)]}


def count_statuses(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = Counter(r["status"] for r in results)
    return {"checked": len(results), **{s: counts.get(s, 0) for s in
                                        ("pass", "warn", "fail", "error")}}


def overall_status(results: list[dict[str, Any]]) -> str:
    return worst_status([r["status"] for r in results if r["status"] != "insufficient"])


def chunk_index(timestamp: str, chunks: int) -> pl.Expr:
    """Equal-row chunks in timestamp order (NannyML's chunking): 0 .. chunks-1."""
    rank = pl.col(timestamp).rank("ordinal") - 1
    return (rank * chunks // pl.len()).cast(pl.Int32)
