"""Next-step commands that run: a `--join-key` hint only for selections that share ids.

A row-by-row comparison (`evalctl skew --join-key`) stops with "no id is in both selections"
when the two sides hold different requests (training ids are not production ids). Before a
report suggests one, `joinable_selectors` checks a sample of ids and, when the selections the
user gave share none, looks for a version of the reference's env that does (a recomputation of
production rows, e.g. ``training:v2``), paired with the current env over that version's dates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import EvalctlError
from evalctl.lake.selectors import Selector
from evalctl.lake.store import Selection, Store

ID_SAMPLE = 2_000  # reference ids looked for in the current side
# read per side at most: the first ID_ROWS ids of ID_FILES files, so the hint costs the same
# at any size of store (it runs after every failing skew)
ID_FILES = 4
ID_ROWS = 65_536


@dataclass(frozen=True)
class JoinHint:
    """Two selectors whose sampled ids overlap; `replaced` when they are not the ones asked."""

    reference: Selector
    current: Selector
    replaced: bool
    key: str

    def command(self, model: ModelConfig) -> str:
        return (f"evalctl skew --model {model.name} --reference {self.reference.text} "
                f"--current {self.current.text} --join-key {self.key}")


def joinable_selectors(store: Store, model: ModelConfig, reference: Selector,
                       current: Selector, key: str | None = None) -> JoinHint | None:
    """The selectors to suggest for a row-by-row comparison on `key` (default: the model's id),
    or None when none share ids."""
    key = key or model.id
    if shares_ids(store, model, reference, current, key):
        return JoinHint(reference, current, replaced=False, key=key)
    for candidate in _reference_versions(store, model, reference):
        try:
            first, last = _dates(store, model, candidate)
        except EvalctlError:
            continue
        narrowed = _selector(current.env, current.version, first, last)
        if candidate != reference and shares_ids(store, model, candidate, narrowed, key):
            return JoinHint(candidate, narrowed, replaced=True, key=key)
    return None


def shares_ids(store: Store, model: ModelConfig, reference: Selector, current: Selector,
               key: str) -> bool:
    """Whether any of about ID_SAMPLE ids spread over the first `ID_ROWS` ids of at most
    `ID_FILES` files of `reference` occurs in the first `ID_ROWS` ids of as many files of
    `current`, the files taken from the dates both selections hold when they share any (a
    recomputation of production requests keeps their timestamps). Only the `key` column of
    those files is read, so the check costs the same at any size of store; selections that
    share most ids (the same requests, recomputed) meet in those ids with near certainty. A
    key column missing from either side shares nothing."""
    try:
        ref = store.select(model.name, reference)
        cur = store.select(model.name, current)
    except EvalctlError:
        return False
    common = {f.date for _, _, f in ref.files} & {f.date for _, _, f in cur.files}
    ref, cur = _first_files(ref, common), _first_files(cur, common)
    ref_lf = store.scan(model, reference, with_actuals=False, selection=ref)
    cur_lf = store.scan(model, current, with_actuals=False, selection=cur)
    if key not in ref_lf.collect_schema() or key not in cur_lf.collect_schema():
        return False
    step = max(min(ref.rows, ID_ROWS) // ID_SAMPLE, 1)
    ids = (ref_lf.select(pl.col(key).cast(pl.String)).head(ID_ROWS).gather_every(step)
           .drop_nulls().collect().to_series())
    if ids.is_empty():
        return False
    hit = (cur_lf.select(pl.col(key).cast(pl.String)).head(ID_ROWS)
           .filter(pl.col(key).is_in(ids.implode())).limit(1).collect())
    return hit.height > 0


def _first_files(selection: Selection, dates: set[str]) -> Selection:
    """The selection cut to its first `ID_FILES` files (in its order: version, date, path)
    of `dates`, or of any date when it has none of them."""
    files = [f for f in selection.files if f[2].date in dates] or list(selection.files)
    return replace(selection, files=tuple(files[:ID_FILES]))


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
