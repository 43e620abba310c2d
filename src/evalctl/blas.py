"""The BLAS threads of the `evalctl` command: one, unless the user chose otherwise.

numpy's bundled OpenBLAS starts a worker thread per core as numpy loads, and those workers
spin, waiting for work, for a while after it: ~0.1 s of CPU per command on the 2-core
benchmark host (half while numpy loads, half while polars loads after it), for nothing, since
evalctl's matrix products are small (confusion counts, bin-by-bin weights, per-segment
eigendecompositions of a few moments' covariances), too small for a second thread to help.
On a busy host the spinning also takes a core from polars' threads. Measured in README
"Performance" ("Drift from profiles: the BLAS threads, the collector and what the windows
drop").

As the allocator options (`evalctl.memory`), only the `evalctl` command sets it, before numpy
loads; a program importing evalctl keeps numpy as it loads it, and any of the variables
OpenBLAS reads that the user set wins. Child processes inherit it (a Spark worker's numpy too).
"""

from __future__ import annotations

from collections.abc import Mapping

BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
# what OpenBLAS reads for its thread count, first found wins: any of them is the user's choice
BLAS_CHOICES = (BLAS_THREADS_ENV, "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


def blas_environ(command: bool, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to the environment before numpy loads: one BLAS thread when this
    process is the `evalctl` command (`command`: `evalctl.memory.is_evalctl_command`) and the
    user has not chosen a thread count, else none."""
    if not command or any(n in environ for n in BLAS_CHOICES):
        return {}
    return {BLAS_THREADS_ENV: "1"}
