"""Issue #16 item 6: a refit and a concurrent ingest never leave a batch profiled only on the
old reference (deterministic interleavings of the two), and the scan path and `profiles
build` read the reference in streamed passes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import PROFILED_CONFIG, CliResult, make_frame, run_cli

import evalctl.lake.ingest as ingest_module
import evalctl.profiles.compute as compute_module
from evalctl.lake.profiled import profile_index
from evalctl.lake.store import Store

M = ["--model", "churn"]
CONFIG = PROFILED_CONFIG.format(reference="training", extra="", checks="")


@pytest.fixture
def store(cli: Callable[..., CliResult], workdir: Path, frame_file: Callable[..., Path]
          ) -> Callable[[str, int], CliResult]:
    """A profiled store (training fitted, production ingested on it) and a second training
    batch, so that `--refit` fits a new reference; returns an ingest of a frame."""
    (workdir / "evalctl.yaml").write_text(CONFIG)

    def ingest(env: str, seed: int) -> CliResult:
        frame = make_frame(600, seed=seed, prefix=f"{env[0]}{seed}",
                           start=datetime(2026, 11, seed), days=2)
        result = cli("ingest", str(frame_file(frame, f"{env}{seed}.parquet")), *M,
                     "--version", "v1", "--env", env)
        assert result.code == 0, result.stderr
        return result

    ingest("training", 1)
    assert cli("profiles", "build", *M).code == 0
    ingest("production", 3)
    ingest("training", 5)
    return ingest


def pointer(root: Path) -> str:
    return str(json.loads((root / "profiles/model=churn/reference.json").read_text())["hash"])


def assert_all_profiled(root: Path) -> None:
    """Every live prediction file has a profile on the current reference, and reports use
    them."""
    store = Store(root)
    records = store.prediction_records("churn")
    index = profile_index(root, "churn", pointer(root), records)
    assert {f.path for r in records for f in r.files} <= set(index)
    doc = run_cli("skew", *M, "--current", "production", "-f", "json").json()
    assert doc["inputs"]["engine"] == "profiles", doc["inputs"]["engine_reason"]
    doc = run_cli("drift", *M, "--current", "production", "-f", "json").json()
    assert doc["inputs"]["engine"] == "profiles", doc["inputs"]["engine_reason"]


def test_the_build_looks_again_for_batches_committed_while_it_profiled(
        store: Callable[[str, int], CliResult], workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An ingest commits, without profiles on the new reference, after the refit's first look
    at the ledger: the build's next look profiles it (the ingest's own catch-up is switched
    off here, so only the build can heal it)."""
    root = workdir / "store"
    old = pointer(root)
    monkeypatch.setattr(ingest_module, "catch_up", lambda *args, **kwargs: 0)
    monkeypatch.setattr(ingest_module, "batch_profiles", lambda *args, **kwargs: None)
    real_write, calls = compute_module.write_profiles, []

    def write_while_an_ingest_commits(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            store("production", 9)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(compute_module, "write_profiles", write_while_an_ingest_commits)
    done = run_cli("profiles", "build", *M, "--refit", "-f", "json").json()["results"][0]
    assert done["fitted"] and done["reference"] == pointer(root) != old
    assert done["batches"] == 4  # t1, t5 and p3 at the first look, p9 at the second
    assert_all_profiled(root)


def test_an_ingest_that_read_the_old_reference_catches_up_after_its_commit(
        store: Callable[[str, int], CliResult], workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = workdir / "store"
    old = pointer(root)
    real_write = compute_module.BatchProfiles.write
    refits: list[str] = []

    def profile_then_a_whole_refit(*args: Any, **kwargs: Any) -> Any:
        profiled = real_write(*args, **kwargs)  # on the old reference
        assert profiled[0]["reference"] == old
        refit = run_cli("profiles", "build", *M, "--refit", "-f", "json")
        refits.append(refit.json()["results"][0]["reference"])
        return profiled  # the ingest commits after the build's last look

    monkeypatch.setattr(compute_module.BatchProfiles, "write", profile_then_a_whole_refit)
    store("production", 9)
    assert refits == [pointer(root)] and refits[0] != old
    assert_all_profiled(root)
    # The ingest profiled its own batch on the new reference; a build finds nothing to do.
    again = run_cli("profiles", "build", *M, "-f", "json").json()["results"][0]
    assert again["batches"] == 0 and not again["fitted"]


def test_catching_up_reads_only_the_pointer_while_it_names_the_profiled_reference(
        store: Callable[[str, int], CliResult], workdir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """After its commit an ingest looks whether a refit moved the pointer; while the pointer
    names the reference it profiled on, it reads only the pointer, not the reference."""
    root = workdir / "store"
    current = pointer(root)
    assert compute_module.current_reference_hash(Store.open(root).storage, "churn") == current
    assert compute_module.current_reference_hash(Store.open(root).storage, "other") is None
    loads: list[str] = []
    real = compute_module.current_reference
    monkeypatch.setattr(compute_module, "current_reference",
                        lambda *args: loads.append("read") or real(*args))
    settings = __import__("evalctl").load_config(workdir / "evalctl.yaml")
    model, ours = settings.models["churn"], Store.open(root)
    batch = next(r.batch for r in ours.prediction_records("churn"))
    assert compute_module.catch_up(ours, model, batch, profiled=current) == 0 and loads == []
    assert compute_module.catch_up(ours, model, batch, profiled="0" * 16) == 0
    assert loads == ["read"]  # another reference named: the full look (nothing lacking)


def same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-12 (they are added in another order), the rest exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return bool(a == pytest.approx(b, rel=1e-12, abs=1e-12))
    return bool(a == b)


@pytest.mark.parametrize("command", ["skew", "drift"])
def test_the_scan_path_reads_the_selection_file_by_file(
        store: Callable[[str, int], CliResult], command: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan path hands `summarize` (and `fit_binning`) the selection in slices of at most
    `PART_ROWS` rows of one data file, and counting them one after another gives the
    summaries (and the fit) of the whole selection."""
    import evalctl.analyses.drift as drift
    import evalctl.analyses.skew as skew
    import evalctl.profiles.parts as parts_module

    monkeypatch.setattr(parts_module, "PART_ROWS", 97)  # several slices per file

    store("production", 9)  # production: two batches, several files
    summarized: list[int] = []
    fitted: list[int] = []
    real_summarize, real_fit = skew.summarize, skew.fit_binning

    def summarize(lf: Any, binning: Any, *args: Any, parts: Any = (), **kwargs: Any) -> Any:
        summarized.append(len(parts))
        by_file = real_summarize(lf, binning, *args, parts=parts, **kwargs)
        whole = real_summarize(lf, binning, *args, **kwargs)
        assert same({k: {f: s.to_dict() for f, s in v.items()} for k, v in by_file.items()},
                    {k: {f: s.to_dict() for f, s in v.items()} for k, v in whole.items()})
        return by_file

    def fit(lf: Any, *args: Any, parts: Any = (), **kwargs: Any) -> Any:
        fitted.append(len(parts))
        by_file = real_fit(lf, *args, parts=parts, **kwargs)
        assert by_file == real_fit(lf, *args, **kwargs)
        return by_file

    for module in (skew, drift):
        monkeypatch.setattr(module, "summarize", summarize)
        monkeypatch.setattr(module, "fit_binning", fit)
    result = run_cli(command, *M, "--current", "production", "--engine", "scan", "-f", "json")
    assert result.code in (0, 1), result.stderr
    assert result.json()["inputs"]["engine"] == "scan"
    # 600-row batches over 2 days: a file holds ~300 rows, so 4 slices of 97 rows or less
    assert len(summarized) == 2 and min(summarized) >= 8 and fitted == [summarized[0]]
