"""Next-step commands that run: a `--join-key` hint only for selections that share ids.

A row-by-row comparison (`evalctl skew --join-key`) stops with "no id is in both selections"
when the two sides hold different requests (training ids are not production ids). Before a
report suggests one, `joinable_selectors` checks a sample of ids and, when the selections the
user gave share none, looks for a version of the reference's env that does (a recomputation of
production rows, e.g. ``training:v2``), paired with the current env over that version's dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import EvalctlError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Store

ID_SAMPLE = 2_000


@dataclass(frozen=True)
class JoinHint:
    """Two selectors whose sampled ids overlap; `replaced` when they are not the ones asked."""

    reference: Selector
    current: Selector
    replaced: bool

    def command(self, model: ModelConfig) -> str:
        return (f"evalctl skew --model {model.name} --reference {self.reference.text} "
                f"--current {self.current.text} --join-key {model.id}")


def joinable_selectors(store: Store, model: ModelConfig, reference: Selector,
                       current: Selector) -> JoinHint | None:
    """The selectors to suggest for a row-by-row comparison, or None when none share ids."""
    if shares_ids(store, model, reference, current):
        return JoinHint(reference, current, replaced=False)
    for candidate in _reference_versions(store, model, reference):
        try:
            first, last = _dates(store, model, candidate)
        except EvalctlError:
            continue
        narrowed = _selector(current.env, current.version, first, last)
        if candidate != reference and shares_ids(store, model, candidate, narrowed):
            return JoinHint(candidate, narrowed, replaced=True)
    return None


def shares_ids(store: Store, model: ModelConfig, reference: Selector,
               current: Selector) -> bool:
    """Whether any of about ID_SAMPLE ids spread over `reference` occurs in `current` (the
    current side's id column is scanned once; no other column is read)."""
    try:
        ref = store.select(model.name, reference)
        cur = store.select(model.name, current)
    except EvalctlError:
        return False
    step = max(ref.rows // ID_SAMPLE, 1)
    ids = (store.scan(model, reference, with_actuals=False, selection=ref)
           .select(pl.col(model.id).cast(pl.String)).gather_every(step).drop_nulls()
           .collect().to_series())
    if ids.is_empty():
        return False
    hit = (store.scan(model, current, with_actuals=False, selection=cur)
           .select(pl.col(model.id).cast(pl.String))
           .filter(pl.col(model.id).is_in(ids.implode())).limit(1).collect())
    return hit.height > 0


def _reference_versions(store: Store, model: ModelConfig, reference: Selector
                        ) -> list[Selector]:
    """Each stored version of the reference's env, as ``ENV:VERSION`` within its range."""
    versions = sorted({r.version for r in store.prediction_records(model.name)
                       if r.env == reference.env and r.version
                       and reference.version in (None, r.version)})
    out = []
    for version in versions:
        if reference.start is None and reference.end is None:
            out.append(Selector(text=f"{reference.env}:{version}", env=reference.env,
                                version=version))
        else:
            out.append(_selector(reference.env, version, reference.start, reference.end))
    return out


def _dates(store: Store, model: ModelConfig, selector: Selector) -> tuple[date, date]:
    selection = store.select(model.name, selector)
    days = [date.fromisoformat(f.date) for _, _, f in selection.files]
    return min(days), max(days)


def _selector(env: str, version: str | None, first: date | None, last: date | None
              ) -> Selector:
    """A selector with an explicit range, spelled so that `parse_selector` reads it back."""
    name = env + (f":{version}" if version else "")
    span = f"{first.isoformat() if first else ''}..{last.isoformat() if last else ''}"
    text = name if first is None and last is None else f"{name}@{span}"
    return Selector(text=text, env=env, version=version, start=first, end=last)
