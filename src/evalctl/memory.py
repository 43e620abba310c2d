"""The allocator options of the `evalctl` command: how much freed memory polars keeps resident.

polars allocates through its bundled jemalloc (symbols prefixed `_rjem_`), which reads its
options once, when polars loads, from `_RJEM_MALLOC_CONF`; `import polars` sets that variable
to its defaults (`dirty_decay_ms:500,muzzy_decay_ms:1000`) followed by any value already there,
so a later option wins. jemalloc's default is four arenas per core, and each keeps the pages
its threads freed until they decay: a scan that decodes slice after slice on polars' threads
spreads them over several arenas, and the process's peak RSS carries every arena's share.

`COMMAND_ALLOCATOR`: one arena (`narenas:1`) took the scan path's peak RSS down by about a
quarter at 5M and 20M rows per side at the same CPU time on the 2-core benchmark host (more
threads contend for one arena on a larger host; a user's own value overrides it); freed
pages leave RSS at once when they have decayed (`muzzy_decay_ms:0`: no lazy MADV_FREE stage,
whose pages count in RSS until the kernel is short of memory). Measured in README
"Performance" ("Allocator options of the evalctl command").

`release_freed_memory`: numpy allocates through the C library's malloc, and glibc keeps what
it freed inside its heap; after the reference fit's passes (arrays of every size, freed in
another order than allocated) that was ~45 MiB at 20M rows per side, carried into every later
phase's peak. glibc's `malloc_trim(0)` returns it; elsewhere (musl, macOS, Windows) it is
a no-op.

`keep_arrays_in_heap`: glibc serves every allocation above its mmap threshold (128 KiB at
first, raised as such blocks are freed) with a fresh mapping, unmapped again when freed, so
numpy's per-batch temporaries fault their pages in afresh on every batch: ~40k minor faults
in a 1M-row ingest's profiling, ~30k in a scan-path `skew`, ~8k in a profile-served `drift`.
The command raises the threshold to `HEAP_MMAP_THRESHOLD` (and the automatic trim of the
heap's top to `HEAP_TRIM_THRESHOLD`), so those arrays come from the heap and reuse its pages;
`release_freed_memory` still returns the heap between phases. Measured in README
"Performance" ("The command's heap").

Only the `evalctl` command (its console script or `python -m evalctl`) sets them: a program
that imports evalctl as a library keeps its allocator as it chose it. A value the user set
wins (nothing is added to it). A value made only of polars' own defaults is not the user's:
`import polars` writes them into the environment, so every child of a Python program that
imported polars (a benchmark or CI script, a scheduler's worker) inherits them, and the
command would otherwise never get its options there. Child processes inherit the variable, as
they inherit polars' own defaults; only a process that loads polars reads it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path

ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
COMMAND_ALLOCATOR = "muzzy_decay_ms:0,narenas:1"
# what `import polars` writes (its `__init__`), before any value that was already there; the
# second part when POLARS_THP=1
POLARS_DEFAULTS = "dirty_decay_ms:500,muzzy_decay_ms:1000"
POLARS_THP = "thp:always,metadata_thp:always"
# glibc's `mallopt` parameters (<malloc.h>) and the command's values for them
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_MMAP_THRESHOLD = 32 << 20  # glibc's largest default-adjusted threshold on 64-bit
HEAP_TRIM_THRESHOLD = 256 << 20
# what the user may have set for glibc's malloc: then the command leaves it alone
HEAP_CHOICES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                "MALLOC_MMAP_MAX_")


def allocator_environ(command: bool, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to the environment before polars loads: the command's allocator
    options when this process is the `evalctl` command (`command`: `is_evalctl_command`) and
    the user has not set them, else none."""
    if not command:
        return {}
    if ALLOCATOR_ENV in environ and not only_polars_defaults(environ[ALLOCATOR_ENV]):
        return {}
    return {ALLOCATOR_ENV: COMMAND_ALLOCATOR}


def only_polars_defaults(value: str) -> bool:
    """Whether `value` is nothing but what `import polars` writes (its defaults, with its THP
    options when POLARS_THP=1), once or more (a polars program's child that imported polars,
    and so on): then the user chose nothing. An empty value is a choice (jemalloc's own
    defaults, then polars')."""
    rest = f",{value}"
    while rest:
        for prefix in (f",{POLARS_DEFAULTS},{POLARS_THP}", f",{POLARS_DEFAULTS}"):
            if rest.startswith(prefix):
                rest = rest.removeprefix(prefix)
                break
        else:
            return False
    return bool(value)


def is_evalctl_command(argv: Sequence[str], orig_argv: Sequence[str]) -> bool:
    """Whether the process runs the `evalctl` command: its console script (`argv[0]` is the
    script), or `python -m evalctl` (while the package is imported, `argv[0]` is `-m` and
    the interpreter's own arguments name the module: `-m evalctl`, `-mevalctl`, `-Bm
    evalctl`...)."""
    if not argv:
        return False
    if Path(argv[0]).stem == "evalctl":
        return True
    return argv[0] == "-m" and _module_run(orig_argv) == "evalctl"


# the interpreter's options that take a value in the same word or the next (`-W default`,
# `-Wdefault`); `-c` and `-m` take one too, and end the interpreter's options
_VALUED = "cmWX"
_VALUED_LONG = ("--check-hash-based-pycs",)


def _module_run(orig_argv: Sequence[str]) -> str | None:
    """The module `python -m` runs, read from the interpreter's arguments as it reads them:
    short options may share a word (`-Bm`) and take their value in it or in the next word
    (`-mevalctl`, `-m evalctl`); a script, ``-`` or `-c` ends them. None: no `-m`."""
    words = iter(orig_argv[1:])
    for word in words:
        if word in _VALUED_LONG:
            next(words, None)
            continue
        if word == "-" or not word.startswith("-"):
            return None
        flags = "" if word.startswith("--") else word[1:]
        valued = next((at for at, flag in enumerate(flags) if flag in _VALUED), None)
        if valued is None:
            continue
        value = flags[valued + 1:] or next(words, "")
        if flags[valued] == "m":
            return value or None
        if flags[valued] == "c":
            return None
    return None


def release_freed_memory() -> bool:
    """Return the memory the C library's malloc holds freed to the system (glibc's
    `malloc_trim(0)`: milliseconds), between phases of the scan path whose numpy arrays would
    otherwise stay resident as freed heap. False where there is no `malloc_trim`."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def keep_arrays_in_heap(environ: Mapping[str, str]) -> bool:
    """Let the C library's heap serve numpy's arrays up to `HEAP_MMAP_THRESHOLD` (the
    module's docstring says why): only the `evalctl` command calls it, as it starts. False
    (nothing changed) where glibc's `mallopt` is missing or the user chose malloc's
    thresholds (`HEAP_CHOICES`, or glibc tunables of malloc)."""
    if any(name in environ for name in HEAP_CHOICES) or \
            "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD))


@cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's `mallopt`, or None (another C library, or no loadable one)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, TypeError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None (another C library, or no loadable one)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, TypeError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim
