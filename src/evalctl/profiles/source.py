"""Where a report's summaries come from: merged profiles when they cover the question, else a
scan of the rows (``--engine auto``, the default); ``--engine profiles`` insists, ``scan``
never reads profiles. The choice and its reason go into the report (`inputs.engine`,
`inputs.engine_reason`).

Profiles cover a question when the model's current reference is fitted and not stale, the
report's reference selection is exactly the files the reference was frozen on (so its bins
are the ones a scan would fit), every selected file has a profile on that reference, windows
are whole multiples of the profile granularity, and nothing needs rows (``--join-key``,
equal-row chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import polars as pl

from evalctl.config import ModelConfig
from evalctl.errors import EngineUnavailable, StoreError
from evalctl.lake.layout import merged_profile_file
from evalctl.lake.profiled import ProfileEntry, profile_index
from evalctl.lake.store import DOCTOR_HINT, Selection, Store
from evalctl.profiles.format import Merged, merge_profiles, read_merged_table
from evalctl.profiles.merged import sources_digest
from evalctl.profiles.reference import Reference, current_reference, staleness
from evalctl.stats.binning import Binning

ENGINES = ("auto", "profiles", "scan", "spark")  # spark: the scan, on Spark (engines/)
GRANULARITY = {"1d": timedelta(days=1), "1h": timedelta(hours=1)}


@dataclass(frozen=True)
class Plan:
    """The engine chosen for a report, and why; `stale` when profiles exist but are out of
    date (the reason then ends with the command that rebuilds them)."""

    engine: str  # profiles | scan
    reason: str
    reference: Reference | None = None
    index: dict[str, ProfileEntry] = field(default_factory=dict)
    stale: bool = False

    def inputs(self) -> dict[str, str]:
        return {"engine": self.engine, "engine_reason": self.reason}


def check_engine(requested: str) -> None:
    """EngineUnavailable unless `requested` is one of `ENGINES`."""
    if requested not in ENGINES:
        raise EngineUnavailable(f"--engine: expected one of {', '.join(ENGINES)}, "
                                f"got {requested!r}")


def plan_engine(store: Store, model: ModelConfig, reference: Selection, current: Selection,
                kinds: dict[str, str], top_k: int, *, requested: str = "auto",
                window: timedelta | None = None, needs_rows: str | None = None) -> Plan:
    """Profiles or scan for comparing `current` with `reference` on columns `kinds`
    (windowed by `window` when given). `requested` ``profiles`` turns a scan into an
    EngineUnavailable (an InputError) naming the reason."""
    check_engine(requested)
    plan = _plan(store, model, reference, current, kinds, top_k, requested, window, needs_rows)
    if requested == "profiles" and plan.engine != "profiles":
        raise EngineUnavailable(f"--engine profiles: {plan.reason}")
    return plan


def _plan(store: Store, model: ModelConfig, reference: Selection, current: Selection,
          kinds: dict[str, str], top_k: int, requested: str, window: timedelta | None,
          needs_rows: str | None) -> Plan:
    build = f"`evalctl profiles build --model {model.name}`"
    if requested == "scan":
        return Plan("scan", "--engine scan")
    if needs_rows:
        return Plan("scan", needs_rows)
    if model.profiles.reference is None:
        return Plan("scan", f"model {model.name} has no `reference:` in the config, so no "
                            "profiles")
    fitted = current_reference(store.storage, model.name)
    if fitted is None:
        return Plan("scan", f"no monitoring reference is fitted yet: run {build}")
    why = staleness(fitted, model)
    if why:
        return Plan("scan", f"profiles are stale ({why}): run {build}", stale=True)
    chosen = tuple(sorted(entry.path for _, _, entry in reference.files))
    if chosen != fitted.files:
        return Plan("scan", f"the reference {reference.selector.text} is not the monitoring "
                            f"reference {fitted.selector} as frozen ({len(fitted.batches)} "
                            f"batch(es), {fitted.dates[0]}..{fitted.dates[1]}; refit with "
                            f"{build[:-1]} --refit`)")
    if top_k != fitted.params.get("top_k"):
        return Plan("scan", f"top_k {top_k} differs from the reference's "
                            f"{fitted.params.get('top_k')} (checks.skew.top_k)")
    other = sorted(c for c, k in kinds.items() if fitted.binning.kinds.get(c) != k)
    if other:
        return Plan("scan", f"column {other[0]} is not in the fitted reference as "
                            f"{kinds[other[0]]}")
    step = GRANULARITY[fitted.granularity]
    if window is not None and window % step:
        return Plan("scan", f"the window is not a whole number of {fitted.granularity} "
                            "profile buckets")
    index = profile_index(store.storage, model.name, fitted.hash,
                          list(reference.records) + list(current.records))
    wanted = [e.path for sel in (reference, current) for _, _, e in sel.files]
    lacking = [p for p in wanted if p not in index]
    if lacking:
        return Plan("scan", f"{len(lacking)} of {len(wanted)} selected files have no profile "
                            f"on reference {fitted.hash} (stale or written before profiles): "
                            f"run {build}", stale=True)
    return Plan("profiles", f"profiles on reference {fitted.hash} cover the selection "
                            f"({len(set(wanted))} files)", fitted, index)


def restricted(binning: Binning, kinds: dict[str, str]) -> Binning:
    """The reference's binning of just the columns `kinds` (in that order)."""
    return Binning({c: binning.kinds[c] for c in kinds},
                   {c: b for c, b in binning.numeric.items() if c in kinds},
                   {c: b for c, b in binning.categorical.items() if c in kinds},
                   {c: e for c, e in binning.errors.items() if c in kinds})


def read_profiles(store: Store, plan: Plan, selection: Selection, binning: Binning,
                  window: pl.Expr | None = None) -> Merged:
    """The merged summaries of a selection's profiles (see `merge_profiles`): for the
    monitoring reference in one window, its stored merged profile when there is one made of
    exactly these profiles (`evalctl.profiles.merged`; the same bits), else the merge."""
    paths, formats = [], []
    for _, _, entry in selection.files:
        profile = plan.index[entry.path]
        formats.append(profile.format)
        if not store.is_local:  # unchecked (a HEAD each would cost a request per file)
            paths.append(store.storage.url(profile.path))
            continue
        path = store.root / profile.path
        size = path.stat().st_size if path.is_file() else None
        if size != profile.bytes:
            state = "missing" if size is None else f"{size} bytes, {profile.bytes} recorded"
            raise StoreError(f"{path}: committed profile is damaged ({state}); run "
                             "`evalctl doctor`", file=str(path), hint=DOCTOR_HINT)
        paths.append(str(path))
    stored = _stored_merge(store, plan, selection) if window is None else None
    if stored is not None:
        try:
            return read_merged_table(str(stored), binning)
        except (OSError, pl.exceptions.PolarsError):  # derived: damaged, or deleted meanwhile
            pass
    return merge_profiles(paths, binning, window, storage_options=store.storage.options or None,
                          formats=formats)


def _stored_merge(store: Store, plan: Plan, selection: Selection) -> Path | None:
    """The merged profile of the selection when it is the monitoring reference and one made
    of exactly the profiles the ledger names for it is stored (local stores only)."""
    fitted = plan.reference
    if fitted is None or not store.is_local or len(selection.files) != len(fitted.files) or \
            tuple(sorted(entry.path for _, _, entry in selection.files)) != fitted.files:
        return None
    profiles = [plan.index[entry.path] for _, _, entry in selection.files]
    path = store.root / merged_profile_file(fitted.model, fitted.hash, sources_digest(profiles))
    return path if path.is_file() else None


def fallback(plan: Plan, merged: list[Merged], requested: str) -> Plan | None:
    """A scan plan when merged profiles cannot give the scan's numbers (an unseen-level count
    a profile had to cut short), else None."""
    if all(m.unseen_exact for m in merged):
        return None
    reason = "a profile lists only part of a column's unseen levels"
    if requested == "profiles":
        raise EngineUnavailable(f"--engine profiles: {reason}")
    return Plan("scan", reason)
