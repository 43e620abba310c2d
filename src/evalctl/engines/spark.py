"""The Spark engine: profiles computed on executors, merged on the driver (README: "Engines:
Spark").

The unit of work is one committed data file, as for the local engine: a Spark task opens the
store, reads its file with `Store.scan`'s rules and counts it with `profile_on` (the same
function `evalctl profiles build` runs locally), inside `mapInArrow`. It returns the file's
profile (the documented partial state, `evalctl.profiles.format`) as the zstd Parquet bytes
the local engine would write, as data: the driver collects partial states, never rows. A task
retried after a failure returns its file's profile again from the new attempt only (Spark keeps
one successful attempt's output per partition), and the driver checks that every file came
back exactly once.

The reference fit (`fit_binning`: extents and level counts, the streamed passes of its exact
quantiles, distinct values) runs there too (`SparkEngine.on_parts`): each of its reads is a
Spark job whose tasks run the fit's own per-part function on a contiguous run of the files and
return its partial state (pickled, zlib-compressed); one more task, after a shuffle, merges
them one at a time with the fit's own merge function (a quantile pass's collected values are
read off there: `merge_passes`) and the driver receives that one merged state, whose size
does not depend on the rows, the files or the number of tasks. The driver reads no row, of
the reference or of the current data.

pyspark (the `evalctl[spark]` extra) is imported only where Spark runs: building the session,
and in the job on the executors; nothing else of evalctl needs it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from evalctl.config import ModelConfig
from evalctl.engines.remote_store import StoreSpec
from evalctl.engines.settings import EngineSettings
from evalctl.errors import EngineUnavailable, InputError, StoreError
from evalctl.lake.ledger import FileEntry
from evalctl.lake.selectors import Selector
from evalctl.lake.storage import Storage
from evalctl.lake.store import Selection
from evalctl.profiles.format import Merged, merge_profiles
from evalctl.profiles.source import Plan
from evalctl.stats.binning import Binning, OnParts

EXTRA_HINT = "pip install 'evalctl[spark]'"
FAULT_ENV = "EVALCTL_SPARK_FAULT_DIR"  # tests: fail each task's first attempt (marker files)
TASKS_PER_CORE = 4  # Spark tasks per executor core in a job (files are dealt over them)
# a build's round (one Spark job): the profiles the driver holds at once while it writes them
ROUND_FILES = 512
ROUND_BYTES = 64 << 20
QUIET = {"spark.ui.showConsoleProgress": "false"}  # stderr is evalctl's; the config may override
_RESULT_SCHEMA = "data string, profile binary"


@dataclass(frozen=True)
class FileTask:
    """One data file to profile: its batch's version and env, and its ledger entry."""

    version: str
    env: str
    entry: FileEntry


def spark_engine(settings: EngineSettings, requested: str, session: Any = None
                 ) -> SparkEngine | None:
    """The Spark engine a command runs on: `session` (a caller's SparkSession) when given,
    else one built from the config's ``engine:`` when `requested` is ``spark``, or ``auto``
    with ``engine.kind: spark``; None for the local engine. Checks the extra and Java first."""
    if session is not None:
        return SparkEngine(settings, session)
    if requested == "spark" or (requested == "auto" and settings.kind == "spark"):
        require_spark()
        return SparkEngine(settings)
    return None


def on_spark(plan: Plan, spark: SparkEngine | None, requested: str,
             needs_rows: str | None) -> Plan:
    """A report's plan with its scan moved to Spark when a Spark engine is given (profiles
    that cover the question still win under auto). A question that needs rows (a join key,
    row chunks) stays a local scan, or is an InputError under ``--engine spark``."""
    if spark is None or plan.engine != "scan":
        return plan
    if needs_rows:
        if requested == "spark":
            raise EngineUnavailable(f"--engine spark: {needs_rows}")
        return plan
    reason = ("--engine spark" if requested == "spark" else
              f"{plan.reason}; scanned on Spark")
    return Plan("spark", f"{reason}, master {spark.master}", stale=plan.stale)


def require_spark() -> None:
    """InputError (exit 2) naming the extra when pyspark is missing, or naming Java when no
    Java 17+ runs."""
    try:
        import pyspark  # noqa: F401  # only to tell whether the extra is installed
    except ImportError:
        raise InputError(f"--engine spark: pyspark is not installed; install the extra: "
                         f"{EXTRA_HINT}", hint=EXTRA_HINT) from None
    problem = java_problem()
    if problem:
        raise InputError(f"--engine spark: {problem}",
                         hint="install a Java 17+ runtime and put it on PATH or in JAVA_HOME")


def java_problem(java: str | None = None) -> str | None:
    """Why Spark cannot start a JVM here (None when `java -version` reports 17 or later)."""
    home = os.environ.get("JAVA_HOME")
    java = java or (str(Path(home) / "bin" / "java") if home else shutil.which("java"))
    if not java or not Path(java).exists():
        return "Java 17 or later is needed and `java` was not found (PATH, JAVA_HOME)"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60,
                              check=False)
    except OSError as exc:
        return f"`{java} -version` failed: {exc.strerror}"
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if done.returncode != 0 or not found:
        return f"`{java} -version` failed (exit {done.returncode}); Spark needs Java 17+"
    major = int(found.group(1))
    major = int(found.group(2) or 0) if major == 1 else major
    if major < 17:
        return f"Spark 4 needs Java 17 or later; `{java}` is Java {major}"
    return None


def python_for_workers() -> None:
    """Executors' and the driver's Python: this interpreter, unless the user chose one."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


class SparkEngine:
    """A Spark session to compute profiles on: one the caller passes (left running), or one
    built from the config's ``engine:`` (stopped by `close`)."""

    def __init__(self, settings: EngineSettings | None = None, session: Any = None) -> None:
        self.settings = settings or EngineSettings(kind="spark")
        self._session = session
        self._owned = False

    @property
    def master(self) -> str:
        return str(self.session.sparkContext.master)

    @property
    def session(self) -> Any:
        """The SparkSession (built on first use)."""
        if self._session is None:
            require_spark()
            python_for_workers()
            from pyspark.sql import SparkSession  # the extra: imported only when used

            active = SparkSession.getActiveSession()
            if active is not None:  # inside a running job: use its session, leave it running
                self._session = active
                return active
            builder = SparkSession.builder.appName("evalctl")
            if self.settings.master:
                builder = builder.master(self.settings.master)
            conf = {**QUIET, **self.settings.conf}
            for key, value in conf.items():
                builder = builder.config(key, value)
            self._session = builder.getOrCreate()
            self._owned = True
        return self._session

    def close(self) -> None:
        """Stop the session when this engine started it."""
        if self._owned and self._session is not None:
            self._session.stop()
        self._session, self._owned = None, False

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def profiles(self, root: Path | Storage, model: ModelConfig, binning: Binning,
                 granularity: str, tasks: list[FileTask]) -> dict[str, bytes]:
        """Each file's profile (zstd Parquet bytes, exactly as `write_profiles` stores them)
        computed on the executors, by data file path. `root`: a local store's folder or any
        store's storage (executors open it with its `storage_options`: `StoreSpec`)."""
        if not tasks:
            return {}
        rows = _task_rows(tasks)
        # files dealt evenly over TASKS_PER_CORE tasks per core (a task costs ~0.1-1 s of
        # scheduling and Python worker time); the fit is pickled with the job
        context = self.session.sparkContext
        slices = min(len(rows), max(1, context.defaultParallelism * TASKS_PER_CORE))
        frame = context.parallelize(rows, slices).toDF("n long, task string")
        job = _ProfileJob(StoreSpec.of(root), model, binning, granularity,
                          os.environ.get(FAULT_ENV))
        found: dict[str, bytes] = {}
        for row in frame.mapInArrow(job, _RESULT_SCHEMA).collect():
            if row["data"] in found:
                raise StoreError(f"{row['data']}: Spark returned two profiles for one file "
                                 "(a retried task's partial state was not discarded)",
                                 file=row["data"])
            found[row["data"]] = bytes(row["profile"])
        missing = [t.entry.path for t in tasks if t.entry.path not in found]
        if missing:
            raise StoreError(f"{missing[0]}: Spark returned no profile for it "
                             f"({len(missing)} file(s) missing)", file=missing[0])
        return found

    def profile_round(self, root: Path | Storage, model: ModelConfig, binning: Binning,
                      granularity: str, tasks: list[FileTask], largest: int
                      ) -> dict[str, bytes]:
        """One round of `profiles build`: the profiles (`profiles`) of the first of `tasks`
        — at most `ROUND_FILES`, and as many as `ROUND_BYTES` holds at `largest` bytes a
        profile (the largest of the earlier rounds) — so the collected profiles the driver
        holds stay within `ROUND_BYTES` (or one profile) however many files a build or a
        batch has (a profile's size depends on the columns, bins and time buckets, alike
        across a model's files). With no round yet (`largest` 0) the round is one file, to
        learn the size: nothing bounds a first round of many files by bytes (a wide model's
        profiles of many time buckets are megabytes each), and one file costs a build one
        short Spark job."""
        count = min(ROUND_FILES, max(1, ROUND_BYTES // largest)) if largest else 1
        return self.profiles(root, model, binning, granularity, tasks[:count])

    def merged(self, root: Path | Storage, model: ModelConfig, binning: Binning,
               selection: Selection, granularity: str = "1d",
               window: pl.Expr | None = None) -> Merged:
        """The summaries of a selection on `binning` (per `window` of ``bucket`` when given):
        each file profiled on the executors, the profiles merged here in the selection's
        order, as `read_profiles` merges stored ones."""
        tasks = [FileTask(version, env, entry) for version, env, entry in selection.files]
        computed = self.profiles(root, model, binning, granularity, tasks)
        tables = [pl.read_parquet(io.BytesIO(computed.pop(t.entry.path))) for t in tasks]
        return merge_profiles(tables, binning, window)

    def on_parts(self, root: Path | Storage, model: ModelConfig, selection: Selection,
                 schema: pl.Schema) -> OnParts:
        """`fit_binning(on_parts=...)` on the executors: each call is one Spark job whose
        tasks read a contiguous run of the selection's data files as `file_scans` parts
        (with `schema`, the whole selection's) and run the fit's per-part function on them;
        their partial states are shuffled to one task that merges them with the fit's merge
        function, and that one state comes back here, each file counted exactly once (the
        shuffle keeps one successful attempt of each task)."""
        tasks = [FileTask(version, env, entry) for version, env, entry in selection.files]

        def each(count: Callable[[Sequence[pl.LazyFrame]], Any],
                 merge: Callable[[Iterable[Any]], Any]) -> Iterator[Any]:
            if not tasks:
                return
            context = self.session.sparkContext
            slices = min(len(tasks), max(1, context.defaultParallelism * TASKS_PER_CORE))
            job = _PartsJob(StoreSpec.of(root), model, selection.selector, dict(schema), count,
                            os.environ.get(FAULT_ENV))
            merged = (context.parallelize(_task_rows(tasks), slices).mapPartitions(job)
                      .repartition(1).mapPartitions(_MergeJob(merge)).collect())
            [(counted, state)] = merged
            if sorted(counted) != list(range(len(tasks))):
                twice = sorted({n for n in counted if counted.count(n) > 1})
                path = tasks[twice[0]].entry.path if twice else next(
                    t.entry.path for n, t in enumerate(tasks) if n not in set(counted))
                raise StoreError(f"{path}: Spark counted this file "
                                 f"{'twice' if twice else 'not at all'} in a fit of the "
                                 "reference (a retried task's partial state was not "
                                 "discarded, or a task was lost)", file=path)
            yield _loads(state)

        return each


def _task_rows(tasks: list[FileTask]) -> list[tuple[int, str]]:
    """(number, JSON) rows of the files for a job's input (`_file_tasks` reads them back)."""
    return [(n, json.dumps({"version": t.version, "env": t.env, **asdict(t.entry)}))
            for n, t in enumerate(tasks)]


def _file_tasks(batches: Iterator[Any]) -> Iterator[tuple[int, FileTask]]:
    """The (number, file) rows of a task's Arrow input, in order (executors)."""
    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        for n, raw in zip(frame["n"].to_list(), frame["task"].to_list(), strict=True):
            yield n, _file_task(raw)


def _file_task(raw: str) -> FileTask:
    """A file of `_task_rows`' JSON (executors)."""
    task = json.loads(raw)
    version, env = task.pop("version"), task.pop("env")
    return FileTask(version, env, FileEntry(**task))


def _dumps(state: Any) -> bytes:
    """A partial state as a task sends it on: pickled, zlib-compressed."""
    return zlib.compress(pickle.dumps(state, pickle.HIGHEST_PROTOCOL), 1)


def _loads(state: bytes) -> Any:
    return pickle.loads(zlib.decompress(state))


@dataclass(frozen=True)
class _PartsJob:
    """The function a fit's read runs on executors (`mapPartitions` over `_task_rows`): the
    task's files as `file_scans` parts, `count` run on them; yields one (file numbers,
    `_dumps` of its result)."""

    store: StoreSpec
    model: ModelConfig
    selector: Selector
    schema: dict[str, pl.DataType]
    count: Callable[[Sequence[pl.LazyFrame]], Any]
    fault_dir: str | None

    def __call__(self, rows: Iterable[tuple[int, str]]) -> Iterator[tuple[list[int], bytes]]:
        # executors: these run in Spark's Python workers, so polars loads there
        from evalctl.profiles.parts import file_scans

        fail = first_attempt_failure(self.fault_dir)
        numbered = [(n, _file_task(raw)) for n, raw in rows]
        files = tuple((t.version, t.env, t.entry) for _, t in numbered)
        store = self.store.open()
        parts = file_scans(store, self.model, Selection(self.selector, files),
                           pl.Schema(self.schema))
        yield [n for n, _ in numbered], _dumps(self.count(parts))
        if fail is not None:  # after its output went out: the retry must not double it
            fail.touch()
            raise RuntimeError(f"evalctl: injected failure of {fail.name}")


@dataclass(frozen=True)
class _MergeJob:
    """The one task after a fit read's shuffle (executors): every task's state decoded one at
    a time and merged by `merge`; yields one (all file numbers, `_dumps` of the merge)."""

    merge: Callable[[Iterable[Any]], Any]

    def __call__(self, parts: Iterable[tuple[list[int], bytes]]
                 ) -> Iterator[tuple[list[int], bytes]]:
        counted: list[int] = []

        def states() -> Iterator[Any]:
            for numbers, state in parts:
                counted.extend(numbers)
                yield _loads(state)

        merged = self.merge(states())
        yield counted, _dumps(merged)


def first_attempt_failure(fault_dir: str | None) -> Path | None:
    """Fault injection for tests of retries: with EVALCTL_SPARK_FAULT_DIR set, every task's
    first attempt fails after returning its first output (leaving a marker); None when this
    attempt runs normally (executors)."""
    if not fault_dir:
        return None
    from pyspark import TaskContext  # executors: the extra is there

    context = TaskContext.get()
    if context is None or context.attemptNumber() > 0:
        return None
    return Path(fault_dir) / f"partition-{context.partitionId()}"


@dataclass(frozen=True)
class _ProfileJob:
    """The function `mapInArrow` runs on executors (pickled with what it needs)."""

    store: StoreSpec
    model: ModelConfig
    binning: Binning
    granularity: str
    fault_dir: str | None

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        # executors: these run in Spark's Python workers, so pyarrow/polars load there
        import pyarrow as pa

        from evalctl.profiles.compute import profile_bytes, profile_on

        store = self.store.open()
        fail = first_attempt_failure(self.fault_dir)
        for _, task in _file_tasks(batches):
            table = profile_on(store, self.model, self.binning, self.granularity, task.version,
                               task.env, task.entry)
            yield pa.RecordBatch.from_pydict(
                {"data": [task.entry.path], "profile": [profile_bytes(table)]},
                schema=pa.schema([("data", pa.string()), ("profile", pa.binary())]))
            if fail is not None:  # after its output went out: the retry must not double it
                fail.touch()
                raise RuntimeError(f"evalctl: injected failure of {fail.name}")
