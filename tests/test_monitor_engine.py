"""Issue #16 (reports use profiles when they cover the question, `--engine`): `monitor
--engine` chooses where its drift check's summaries come from, as `drift --engine` does; the
same drift either way; an engine that cannot serve a model, or no engine at all, is exit 2
with one line and stores nothing (not a drift row saying it could not be computed)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from tests.helpers import PROFILED_CONFIG, fitted_store, make_frame, store_snapshot

M = ["--model", "churn"]
DAY = ["--date", "2026-11-05"]


@pytest.fixture
def profiled(cli, workdir: Path, frame_file) -> Path:
    """A store whose reference is fitted, with profiled production days; returns its root."""
    fitted_store(cli, workdir, frame_file)
    production = make_frame(2500, seed=4, prefix="p", start=datetime(2026, 11, 1), days=5)
    assert cli("ingest", str(frame_file(production, "p.parquet")), *M, "--version", "v1",
               "--env", "production").code == 0
    return workdir / "store"


def drift_rows(doc: dict) -> list[tuple]:
    return [(r["feature"], r["status"], r["value"], r.get("p_value"))
            for r in doc["results"] if r["check"] == "drift"]


def test_monitor_engine_scan_and_profiles_give_the_same_drift(cli, profiled: Path) -> None:
    docs = {}
    for engine in ("auto", "profiles", "scan"):
        result = cli("monitor", *M, *DAY, "-f", "json", "--engine", engine)
        assert result.code in (0, 1), result.stderr
        docs[engine] = json.loads(result.stdout)
    assert docs["auto"]["inputs"]["engine"] == docs["profiles"]["inputs"]["engine"] == \
        "profiles"
    assert docs["scan"]["inputs"]["engine"] == "scan"
    assert "--engine scan" in docs["scan"]["inputs"]["engine_reason"]
    profiles, scan = drift_rows(docs["profiles"]), drift_rows(docs["scan"])
    assert len(profiles) == len(scan) >= 3
    for (feature, status, value, p), (feature_s, status_s, value_s, p_s) in zip(
            profiles, scan, strict=True):
        assert (feature, status) == (feature_s, status_s)
        assert value == pytest.approx(value_s, rel=1e-12, abs=1e-12)
        assert (p is None) == (p_s is None)
        if p is not None:
            assert p == pytest.approx(p_s, rel=1e-12, abs=1e-12)


def test_an_engine_that_cannot_serve_is_exit_2_and_stores_nothing(
        cli, workdir: Path, frame_file) -> None:
    (workdir / "evalctl.yaml").write_text(PROFILED_CONFIG.format(
        reference="training:v1", extra="", checks=""))  # a reference, never fitted
    for env, seed in (("training", 1), ("production", 4)):
        frame = make_frame(800, seed=seed, prefix=env[0], start=datetime(2026, 11, 1), days=5)
        assert cli("ingest", str(frame_file(frame, f"{env}.parquet")), *M, "--version", "v1",
                   "--env", env).code == 0
    root = workdir / "store"
    before = store_snapshot(root)
    result = cli("monitor", *M, *DAY, "--engine", "profiles")
    assert result.code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--engine profiles" in result.stderr and "profiles build" in result.stderr
    assert store_snapshot(root) == before  # no history of a run that failed
    assert cli("monitor", *M, *DAY, "-f", "json", "--engine", "scan").code in (0, 1)
    assert store_snapshot(root) != before  # the scan's run is stored


def test_an_unknown_engine_is_exit_2_even_when_drift_would_not_run(cli, profiled: Path
                                                                   ) -> None:
    before = store_snapshot(profiled)
    result = cli("monitor", *M, "--date", "2026-12-20", "--engine", "bogus")  # no rows then
    assert result.code == 2 and "--engine: expected one of" in result.stderr
    assert store_snapshot(profiled) == before


def test_a_run_over_models_stores_nothing_when_one_cannot_be_served(
        cli, workdir: Path, frame_file) -> None:
    """Every model is checked before any history is stored: the first model's run is not
    kept when the second one's --engine fails."""
    one = PROFILED_CONFIG.format(reference="training:v1", extra="", checks="")
    other = one.split("models:\n", 1)[1].replace("  churn:", "  other:", 1)
    (workdir / "evalctl.yaml").write_text(one + other)
    for model in ("churn", "other"):
        for env, seed in (("training", 1), ("production", 4)):
            frame = make_frame(800, seed=seed, prefix=env[0], start=datetime(2026, 11, 1),
                               days=5)
            assert cli("ingest", str(frame_file(frame, f"{model}{env}.parquet")), "--model",
                       model, "--version", "v1", "--env", env).code == 0
    assert cli("profiles", "build", "--model", "churn").code == 0  # `other`: none fitted
    root = workdir / "store"
    before = store_snapshot(root)
    result = cli("monitor", *DAY, "--engine", "profiles")
    assert result.code == 2 and "--engine profiles" in result.stderr
    assert store_snapshot(root) == before
    assert cli("monitor", *DAY, "--engine", "auto", "-f", "json").code in (0, 1)
