"""Issue #19: the reference fit runs on Spark executors and the driver reads no row.

Each read of `fit_binning` (extents and level counts, every streamed pass of the exact
quantiles, distinct values) is run on parts of the rows by `on_parts` and merged: first here
without Spark (the merge laws, against the plain fit and a numpy sort), then on Spark
(marker `spark`) under local[2,3] and local-cluster[2,1,1024], where the fitted reference must
be the local one bit for bit (edges with their signed zeros, vocabularies, hash) while the
driver is forbidden to scan a data file, and a task failing on its first attempt is retried
without its partial state counted twice."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import assert_same, run_cli, validate_envelope

import evalctl
from evalctl.lake.store import Store
from evalctl.stats import streamed
from evalctl.stats.binning import Binning, fine_levels, fit_binning
from evalctl.stats.streamed import StreamedRanks, count_pass

RNG = np.random.default_rng(19)

CONFIG = """\
store: store
models:
  fit:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    reference: training:v1
    features:
      ties: numeric
      weird: numeric
      zeros: numeric
      constant: numeric
      smooth: numeric
      levels: categorical
      few: categorical
"""


def small_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny collection and grid sizes, so that a few thousand rows need several narrowing
    passes (the plan is made on the driver: executors need no patch)."""
    monkeypatch.setattr(streamed, "COLLECT", 300)
    monkeypatch.setattr(streamed, "CELLS", 64)
    monkeypatch.setattr(streamed, "GRID", 32)


def reference_frame(n: int, seed: int, start: datetime, days: int = 4) -> pl.DataFrame:
    """Ties, nulls, NaN, ±inf, signed zeros, a constant column, a column of zeros of both
    signs, a smooth column, a categorical with thousands of levels (ties in their counts)
    and a small one with nulls."""
    rng = np.random.default_rng(seed)
    weird = rng.normal(size=n)
    weird[rng.random(n) < 0.1] = 0.0
    weird[rng.random(n) < 0.1] = -0.0
    special = rng.random(n)
    weird[special < 0.02] = np.nan
    weird[(special >= 0.02) & (special < 0.03)] = np.inf
    weird[(special >= 0.03) & (special < 0.04)] = -np.inf
    ties = rng.integers(0, 25, n).astype(float)
    ties[rng.random(n) < 0.05] = np.nan
    score = rng.random(n)
    step = timedelta(days=days) / n
    return pl.DataFrame({
        "request_id": [f"s{seed}-{i:06d}" for i in range(n)],
        "ts": [start + i * step for i in range(n)],
        "ties": ties,
        "weird": weird,
        "zeros": np.where(rng.random(n) < 0.5, 0.0, -0.0),
        "constant": np.full(n, 3.5),
        "smooth": rng.lognormal(0.0, 2.0, n),
        "levels": [f"L{v}" for v in rng.zipf(1.3, n) % 4000],
        "few": rng.choice(["a", "b", "c"], n),
        "score": score,
        "predicted_label": (score >= 0.5).astype(int),
    }).with_columns(
        pl.col("ties").fill_nan(None),
        pl.when(pl.col("score") < 0.05).then(None).otherwise(pl.col("few")).alias("few"),
        pl.when(pl.col("score") > 0.97).then(None).otherwise(pl.col("constant"))
        .alias("constant"))


def in_groups(parts: Sequence[pl.LazyFrame], groups: int
              ) -> Callable[[Callable[[Sequence[pl.LazyFrame]], Any]], Iterator[Any]]:
    """`on_parts` without Spark: `count` run on contiguous groups of the parts, in order."""
    bounds = np.linspace(0, len(parts), groups + 1).astype(int)

    def each(count: Callable[[Sequence[pl.LazyFrame]], Any]) -> Iterator[Any]:
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            yield count(list(parts[lo:hi]))
    return each


def exact(binning: Binning) -> str:
    """The fit as JSON text: float edges compared bit for bit (repr keeps -0.0)."""
    return json.dumps(binning.to_dict(), sort_keys=True)


def test_a_pass_counted_in_parts_equals_one_pass_over_all_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    small_passes(monkeypatch)
    n = 20_000
    data = {
        "normal": RNG.normal(size=n),
        "ties": RNG.integers(0, 7, n).astype(float),
        "zeros": np.where(RNG.random(n) < 0.9, 0.0, RNG.normal(size=n)),
        "signed": np.where(RNG.random(n) < 0.5, 0.0, -0.0),
        "tails": np.where(RNG.random(n) < 0.01, np.inf, RNG.pareto(0.7, n)),
    }
    data["normal"][RNG.random(n) < 0.05] = np.nan
    wanted = {}
    for name, values in data.items():
        finite = values[np.isfinite(values)]
        ranks = np.unique(np.floor(fine_levels(200) * (finite.size - 1)).astype(np.int64))
        wanted[name] = (ranks, finite.size, float(finite.min()), float(finite.max()))

    def batches(names: list[str], lo: int = 0, hi: int = n) -> Iterator[dict[str, np.ndarray]]:
        for start in range(lo, hi, 1_500):
            yield {f: data[f][start:min(start + 1_500, hi)] for f in names}

    cuts = [0, 1, 4_000, 4_001, 13_333, n]  # parts of every size, one of a single row

    def partials(plans: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            yield count_pass(plans, batches(list(plans), lo, hi))

    whole, parted = StreamedRanks(wanted), StreamedRanks(wanted)
    expected, found = whole.run(batches), parted.run(partials=partials)
    assert parted.passes == whole.passes >= 3  # really narrowed, pass after pass
    for name, values in data.items():
        truth = np.sort(values[np.isfinite(values)])[wanted[name][0]]
        assert np.array_equal(found[name], truth)
        assert np.array_equal(found[name], expected[name])
        assert np.array_equal(np.signbit(found[name]), np.signbit(expected[name])), name
    with pytest.raises(ValueError, match="exactly one of"):
        StreamedRanks(wanted).run()


@pytest.mark.parametrize("groups", [1, 3, 7])
def test_the_fit_on_parts_equals_the_local_fit(tmp_path: Path, groups: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    small_passes(monkeypatch)
    paths = []
    for k in range(7):
        frame = reference_frame(900 + 150 * k, seed=k, start=datetime(2026, 9, 1 + 4 * k))
        paths.append(tmp_path / f"part-{k}.parquet")
        frame.write_parquet(paths[-1])
    parts = [pl.scan_parquet(p) for p in paths]
    lf = pl.concat(parts)
    features = {"ties": "numeric", "weird": "numeric", "zeros": "numeric",
                "constant": "numeric", "smooth": "numeric", "levels": "categorical",
                "few": "categorical", "missing": "numeric"}
    local = fit_binning(lf, features, parts=parts, max_levels=1_000)
    spread = fit_binning(lf, features, on_parts=in_groups(parts, groups), max_levels=1_000)
    assert exact(spread) == exact(local)
    assert spread.errors == {"missing": "column 'missing' is missing"}
    assert not spread.categorical["levels"].known_complete  # more levels than max_levels
    smooth = lf.select(pl.col("smooth")).collect()["smooth"].to_numpy()
    # an independent check of one column: its PSI edges are numpy's lower quantiles
    psi = np.unique(np.sort(smooth)[np.floor(np.linspace(0, 1, 11) * (smooth.size - 1))
                                     .astype(int)][1:-1])
    assert spread.numeric["smooth"].psi_edges == tuple(psi.tolist())
    assert spread.numeric["constant"].edges == (3.5,)
    assert [np.signbit(e) for e in spread.numeric["zeros"].edges] == [False]  # one spelling
    zero = [e for e in spread.numeric["weird"].psi_edges if e == 0]
    assert zero and not np.signbit(zero[0])  # a zero at a PSI rank: the one of either sign
    assert spread.numeric["ties"].edges == tuple(float(v) for v in range(25))


# --- on Spark ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["local[2,3]", "local-cluster[2,1,1024]"])
def session(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Spark session per master (threads in one JVM; two executor JVMs), then stopped."""
    from evalctl.engines.spark import python_for_workers, require_spark

    require_spark()
    python_for_workers()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(request.param).appName("evalctl-tests-fit")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    yield spark
    spark.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three training batches (twelve daily files) of `reference_frame`."""
    folder = tmp_path_factory.mktemp("fit")
    (folder / "evalctl.yaml").write_text(CONFIG)
    Store.init(folder / "store")
    ws = evalctl.open(folder / "evalctl.yaml", folder / "store")
    for k in range(3):
        path = folder / f"t{k}.parquet"
        reference_frame(2_000, seed=100 + k, start=datetime(2026, 9, 1 + 5 * k)).write_parquet(
            path)
        ws.ingest("fit", [path], version="v1", env="training")
    return folder


def no_scan_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any query of this (driver) process that scans a data file: the executors, in
    their own Python workers, are not patched."""
    for method in ("collect", "collect_batches"):
        real = getattr(pl.LazyFrame, method)

        def guarded(self: pl.LazyFrame, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            if "Parquet SCAN" in self.explain(optimized=False):
                raise AssertionError("the driver scanned a data file")
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(pl.LazyFrame, method, guarded)


def fitted_on(folder: Path, spark: Any = None) -> Any:
    from evalctl.engines.spark import SparkEngine
    from evalctl.profiles.reference import fit_reference

    ws = evalctl.open(folder / "evalctl.yaml", folder / "store")
    engine = None if spark is None else SparkEngine(session=spark)
    return fit_reference(ws.store, ws.model("fit"), datetime(2026, 12, 1), spark=engine)


@pytest.mark.spark
def test_the_reference_fitted_on_executors_is_the_local_one(
        session: Any, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_passes(monkeypatch)
    local = fitted_on(store)
    assert len(local.files) == 12
    jobs = len(session.sparkContext.statusTracker().getJobIdsForGroup())
    with monkeypatch.context() as guard:
        no_scan_here(guard)
        with pytest.raises(AssertionError, match="scanned a data file"):
            fitted_on(store)  # the guard works: the local fit scans here
        on_spark = fitted_on(store, session)
    # extents, several quantile passes and the distinct values: a Spark job each
    assert len(session.sparkContext.statusTracker().getJobIdsForGroup()) - jobs >= 5
    assert exact(on_spark.binning) == exact(local.binning)
    assert on_spark.hash == local.hash
    assert on_spark.to_dict() == local.to_dict()
    assert len(local.binning.categorical["levels"].known) > 1_000
    assert local.binning.numeric["constant"].edges == (3.5,)


@pytest.mark.spark
def test_a_fit_task_failing_once_is_not_counted_twice(
        session: Any, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalctl.engines.spark import FAULT_ENV

    small_passes(monkeypatch)
    local = fitted_on(store)
    monkeypatch.setenv(FAULT_ENV, str(tmp_path))
    retried = fitted_on(store, session)
    assert list(tmp_path.iterdir())  # first attempts failed after returning their state
    assert exact(retried.binning) == exact(local.binning)


@pytest.mark.spark
@pytest.mark.parametrize("session", ["local[2,3]"], indirect=True)
def test_auto_with_a_spark_engine_scans_there_when_profiles_are_stale(
        session: Any, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`engine: {kind: spark}` and profiles made stale by a config change: skew and drift
    (auto) scan on Spark — the bins fitted there — and equal the local scan."""
    folder = tmp_path / "w"
    shutil.copytree(store, folder)
    ws = evalctl.open(folder / "evalctl.yaml", folder / "store")
    path = folder / "p.parquet"
    reference_frame(3_000, seed=7, start=datetime(2026, 11, 1)).write_parquet(path)
    ws.ingest("fit", [path], version="v1", env="production")
    assert ws.profiles_build("fit").results[0]["files"] > 12
    stale = CONFIG.replace("reference: training:v1", "reference: training:v1@2026-09-01.."
                                                     "2026-09-09")
    (folder / "evalctl.yaml").write_text("engine:\n  kind: spark\n" + stale)
    monkeypatch.chdir(folder)
    for args in (["skew", "--current", "production"],
                 ["drift", "--current", "production", "--window", "1d"]):
        auto = run_cli(*args, "--model", "fit", "-f", "json")
        scan = run_cli(*args, "--model", "fit", "--engine", "scan", "-f", "json")
        assert auto.code in (0, 1) and scan.code == auto.code, auto.stderr
        on, local = auto.json(), scan.json()
        validate_envelope(on)
        assert on["inputs"]["engine"] == "spark"
        assert on["inputs"]["engine_reason"].startswith("profiles are stale (the config's "
                                                        "reference is")
        assert on["inputs"]["engine_reason"].endswith("scanned on Spark, master local[2,3]")
        assert_same(on["results"], local["results"])
        assert_same(on["summary"], local["summary"])
