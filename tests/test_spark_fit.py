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
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.helpers import assert_same, run_cli, spark_session, validate_envelope

import evalctl
from evalctl.lake.store import Store
from evalctl.stats import streamed
from evalctl.stats.binning import Binning, fine_levels, fit_binning
from evalctl.stats.streamed import StreamedRanks, count_pass, merge_passes

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


def in_groups(parts: Sequence[pl.LazyFrame], groups: int, merged: bool = False
              ) -> Callable[[Callable[[Sequence[pl.LazyFrame]], Any],
                             Callable[[Iterable[Any]], Any]], Iterator[Any]]:
    """`on_parts` without Spark: `count` run on contiguous groups of the parts, their results
    yielded in order, or (`merged`) merged by `merge` in reverse order (as Spark's one merge
    task may receive them in any order), its one result yielded."""
    bounds = np.linspace(0, len(parts), groups + 1).astype(int)

    def each(count: Callable[[Sequence[pl.LazyFrame]], Any],
             merge: Callable[[Iterable[Any]], Any]) -> Iterator[Any]:
        results = (count(list(parts[lo:hi]))
                   for lo, hi in zip(bounds[:-1], bounds[1:], strict=True))
        if merged:
            yield merge(reversed(list(results)))
        else:
            yield from results
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

    sent: list[dict[str, Any]] = []

    def merged_there(plans: dict[str, Any]) -> list[dict[str, Any]]:
        """As the Spark engine does: every part merged where counted (in reverse order),
        one settled state sent on."""
        sent.append(merge_passes(plans, reversed(list(partials(plans)))))
        return sent[-1:]

    whole, parted, settled = StreamedRanks(wanted), StreamedRanks(wanted), StreamedRanks(wanted)
    expected, found = whole.run(batches), parted.run(partials=partials)
    at_once = settled.run(partials=merged_there)
    assert parted.passes == whole.passes == settled.passes >= 3  # narrowed, pass after pass
    for name, values in data.items():
        truth = np.sort(values[np.isfinite(values)])[wanted[name][0]]
        assert np.array_equal(found[name], truth)
        assert np.array_equal(found[name], expected[name])
        assert np.array_equal(np.signbit(found[name]), np.signbit(expected[name])), name
        assert np.array_equal(at_once[name], truth)
    # the settled states carry answers, never the collected values
    assert all(not state.collected and state.settled is not None
               for states in sent for state in states.values())
    assert sum(state.settled[0].size for states in sent for state in states.values()) > 0
    with pytest.raises(ValueError, match="settled pass state"):
        StreamedRanks(wanted).run(partials=lambda plans: [*merged_there(plans),
                                                          *merged_there(plans)])
    with pytest.raises(ValueError, match="exactly one of"):
        StreamedRanks(wanted).run()


@pytest.mark.parametrize("merged", [False, True])
@pytest.mark.parametrize("groups", [1, 3, 7])
def test_the_fit_on_parts_equals_the_local_fit(tmp_path: Path, groups: int, merged: bool,
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
    spread = fit_binning(lf, features, on_parts=in_groups(parts, groups, merged),
                         max_levels=1_000)
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
    yield from spark_session(request.param, "evalctl-tests-fit")


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


@pytest.mark.spark
@pytest.mark.parametrize("session", ["local-cluster[2,1,1024]"], indirect=True)
def test_the_driver_receives_one_bounded_state_a_read_whatever_the_rows(
        session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #19: at 5,000 and at 40,000 rows (every numeric column then fits in one collected
    node, so counted on the driver a pass would bring every value here), each read of the fit
    sends the driver exactly one state, merged on an executor; a quantile pass's state holds
    the answers, no collected value, and its size does not grow with the rows."""
    from evalctl.engines import spark as engine
    from evalctl.stats.streamed import CELLS, _Pass

    received: list[tuple[int, Any]] = []
    real = engine._loads

    def spy(state: bytes) -> Any:  # the driver's decoding (executors' workers are not patched)
        received.append((len(state), real(state)))
        return received[-1][1]

    monkeypatch.setattr(engine, "_loads", spy)
    sizes: dict[int, dict[str, int]] = {}
    for rows in (5_000, 40_000):
        folder = tmp_path / f"rows-{rows}"
        folder.mkdir()
        (folder / "evalctl.yaml").write_text(CONFIG)
        Store.init(folder / "store")
        ws = evalctl.open(folder / "evalctl.yaml", folder / "store")
        for k in range(4):
            path = folder / f"t{k}.parquet"
            reference_frame(rows // 4, seed=200 + k, start=datetime(2026, 9, 1 + 4 * k)
                            ).write_parquet(path)
            ws.ingest("fit", [path], version="v1", env="training")
        received.clear()
        jobs = len(session.sparkContext.statusTracker().getJobIdsForGroup())
        on_spark = fitted_on(folder, session)
        assert exact(on_spark.binning) == exact(fitted_on(folder).binning)
        # one state a Spark job (the merge task's), whatever the four files and eight tasks
        assert len(received) == len(session.sparkContext.statusTracker()
                                    .getJobIdsForGroup()) - jobs >= 3
        passes = [(size, state) for size, state in received
                  if isinstance(state, dict) and all(isinstance(v, _Pass)
                                                     for v in state.values())]
        assert passes
        for size, state in passes:
            for column in state.values():
                assert column.collected == [] and column.settled is not None
                assert column.settled[0].size <= 1_500  # at most the fit's ranks
                assert column.counts.size <= CELLS
            # counters (int64 counts, float64 minima and maxima) and the answers, compressed
            assert size <= len(state) * (3 * 8 * CELLS + 16 * 1_500)
        sizes[rows] = {"passes": max(size for size, _ in passes),
                       "all": max(size for size, _ in received)}
    # 8x the rows: the quantile passes' states stay the same size (a pass over all of the
    # values sent 5 columns x 16 bytes x 40,000 rows = 3.2 MB), the largest state too
    assert sizes[40_000]["passes"] <= 1.25 * sizes[5_000]["passes"] + 4_096
    assert sizes[40_000]["passes"] < 5 * 16 * 5_000
    assert sizes[40_000]["all"] <= 1.5 * sizes[5_000]["all"] + 65_536
