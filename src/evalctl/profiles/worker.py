"""A profiling process beside the ingest: half the counting, without the GIL.

Counting a data file into its profile holds the GIL for most of its time (`np.bincount` and
`ufunc.at` keep it), so ingest's two counting threads ran at ~1.2x the speed of one. A second
process counts with its own GIL: ingest starts it as it starts (`start`, before polars writes
the batch, so its ~0.35 s of imports run while the ingest is reading the export), and one of
the counting threads hands it a group of files at a time (`Worker.count`) while the other
counts locally; it sends back each file's profile as the very bytes the local count makes
(`profile_bytes`: the same function, on the same rows).

It is an optimisation and nothing else: it reads the moved files only (writes nothing, takes
no lock), so a failure of the process itself (it could not start, died, or a pipe broke)
only makes the thread count locally (`Worker.count` returns None); an error counting the
files (a data file changed under the ingest) comes back as the same `StoreError` or
`InputError`. It runs in a session of its own, so a Ctrl-C at the terminal reaches the
ingest alone, whose watchdog ends it; the worker ends when its input closes (the ingest
closed it or died). Used for local stores, where two cores may be used, and batches of at
least `WORKER_ROWS` rows (its imports cost ~0.4 s of CPU); `EVALCTL_PROFILE_WORKER` =
``off`` never starts it, ``on`` always does (where it can), ``auto`` (the default) decides.

The protocol: length-prefixed pickles on the worker's stdin and stdout; the job first (what
`count_files` needs), then a group of `FileEntry`s per request, answered by ``("ok",
[bytes, ...])`` or ``("error", kind, message, file)``; ``None`` or the end of its input ends
it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from evalctl.errors import InputError, StoreError

if TYPE_CHECKING:  # imported by `serve` alone: it imports this module
    from evalctl.profiles.compute import BatchProfiles

WORKER_ENV = "EVALCTL_PROFILE_WORKER"
CHOICES = ("auto", "on", "off")
WORKER_ROWS = 300_000  # rows of a batch (estimated from its exports) worth a worker
_HEADER = struct.Struct("<Q")
_CLOSE_WAIT = 5.0  # seconds a closed worker has to end before it is killed


@dataclass(frozen=True)
class Job:
    """What the worker counts with: the store's root, the (resolved) model, the reference's
    binning and granularity, and the batch's version and env."""

    root: str
    model: Any  # ModelConfig
    binning: Any  # Binning
    granularity: str
    version: str
    env: str


def job_of(profiles: BatchProfiles) -> Job:
    """What a profiling process needs to count a batch's files."""
    return Job(str(profiles.store.root), profiles.model, profiles.reference.binning,
               profiles.reference.granularity, profiles.version, profiles.env)


def setting(environ: dict[str, str] | None = None) -> str:
    """`EVALCTL_PROFILE_WORKER` (default auto); a value other than auto, on or off is an
    InputError naming the variable."""
    choice = (environ if environ is not None else os.environ).get(WORKER_ENV, "auto")
    if choice not in CHOICES:
        raise InputError(f"{WORKER_ENV}: expected one of {', '.join(CHOICES)}, got "
                         f"{choice!r}", key=WORKER_ENV)
    return choice


def wanted(rows: int, cores: int, environ: dict[str, str] | None = None) -> bool:
    """Whether an ingest of about `rows` rows starts a worker (`setting`)."""
    choice = setting(environ)
    if choice == "off" or cores < 2:
        return False
    return choice == "on" or rows >= WORKER_ROWS


class Worker:
    """The parent's end of a profiling process: `count` one group of files at a time (one
    caller at a time: `lock`), `close` at the end."""

    def __init__(self, job: Job) -> None:
        self.lock = threading.Lock()  # held by the counting thread that uses the worker
        self.groups = 0  # groups counted here
        self._ready = False
        self._broken = False
        package = str(Path(__file__).resolve().parents[2])  # the folder holding `evalctl`
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package + (os.pathsep + path if path else "")}
        self._process = subprocess.Popen(
            [sys.executable, "-c", "from evalctl.profiles.worker import serve; serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True, close_fds=True)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._input, self._output = self._process.stdin, self._process.stdout
        # sent by a thread: the job (the reference's edges, ~0.5 MB pickled) fills the pipe,
        # which the worker empties only once its imports are done (~0.3 s the ingest would
        # otherwise wait); `count` never writes before `ready` saw the worker answer
        self._sent = threading.Thread(target=self._send_job, args=(job,),
                                      name="evalctl-worker-job", daemon=True)
        self._sent.start()

    def _send_job(self, job: Job) -> None:
        try:
            _send(self._input, job)
        except (OSError, ValueError):  # ValueError: closed meanwhile (`close`)
            self._broken = True

    @property
    def pid(self) -> int:
        return self._process.pid

    def ready(self) -> bool:
        """Whether the worker has loaded and can count now (without waiting)."""
        if self._ready or self._broken:
            return self._ready and not self._broken
        readable, _, _ = select.select([self._output], [], [], 0)
        if readable:
            try:
                self._ready = _receive(self._output) == ("ready",)
            except (OSError, EOFError, pickle.UnpicklingError):
                self._broken = True
            self._broken = self._broken or not self._ready
        return self._ready and not self._broken

    def count(self, group: list[Any]) -> list[bytes] | None:
        """The profile bytes of a group of files (`FileEntry`s), counted by the worker; None
        when the worker failed (count locally); the counting's own StoreError or InputError
        as raised there. Call with `lock` held, after `ready`."""
        if self._broken:
            return None
        try:
            _send(self._input, group)
            answer = _receive(self._output)
        except (OSError, EOFError, pickle.UnpicklingError):
            self._broken = True
            return None
        if answer[0] == "ok":
            self.groups += 1
            return list(answer[1])
        _, kind, message, file = answer
        if kind == "store":
            raise StoreError(message, file=file)
        if kind == "input":
            raise InputError(message, file=file)
        self._broken = True  # a bug in the worker: the local count says what it is
        return None

    def close(self) -> None:
        """End the worker: a ready one by closing its input (it ends at once), one still
        loading by a kill (it holds nothing: waiting for its imports would only delay the
        ingest); a kill too if it has not ended after `_CLOSE_WAIT` seconds."""
        ended = self._ready and not self._broken
        if ended:
            with contextlib.suppress(OSError, ValueError):
                _send(self._input, None)
        else:
            self._process.kill()
        for stream in (self._input, self._output):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        try:  # waited for (it ends without the interpreter's teardown: a few ms), so that
            # its CPU time counts in the ingest's, as `time` and resource accounting see it
            self._process.wait(_CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._sent.join(_CLOSE_WAIT)


def start(job: Job) -> Worker | None:
    """A worker for `job`, or None where one cannot be started (no interpreter to run, or
    the system refused a process)."""
    if not sys.executable:
        return None
    try:
        return Worker(job)
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def running(job: Job | None) -> Iterator[Worker | None]:
    """A worker for `job` (None: none) for the duration of the block, closed after it."""
    worker = start(job) if job is not None else None
    try:
        yield worker
    finally:
        if worker is not None:
            worker.close()


def _send(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other end closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the other end closed")
    return pickle.loads(data)


def serve() -> None:
    """The worker's loop (its process runs nothing else): load, say ready, then count the
    groups it is sent until its input ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the ingest's watchdog ends it
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the pipe
    try:
        job = _receive(source)
    except (OSError, EOFError):
        return
    from evalctl.lake.store import Store
    from evalctl.memory import keep_arrays_in_heap
    from evalctl.profiles.compute import count_files, profile_bytes, warm

    keep_arrays_in_heap(os.environ)
    store = Store.open(job.root)
    warm(job.binning)  # before it says ready: its first group took ~0.24 s, the next ~0.1 s
    try:
        _send(sink, ("ready",))
        while (group := _receive(source)) is not None:
            try:
                counted = count_files(store, job.model, job.binning, job.granularity,
                                      job.version, job.env, group)
                answer: Any = ("ok", [profile_bytes(one.table()) for one in counted])
            except StoreError as exc:
                answer = ("error", "store", str(exc), exc.file)
            except InputError as exc:
                answer = ("error", "input", str(exc), exc.file)
            except Exception as exc:  # noqa: BLE001  # the ingest counts locally instead
                answer = ("error", "internal", f"{type(exc).__name__}: {exc}", None)
            _send(sink, answer)
    except (OSError, EOFError):
        pass
    os._exit(0)  # nothing to flush or clean up: the interpreter's teardown would cost ~0.1 s
