"""Start-up time: the cyclic garbage collector is paused while evalctl's modules load.

Importing evalctl (polars, numpy, the settings, checks and report modules) makes a few hundred
thousand objects that live as long as the process. The collector, run every few hundred
allocations, would traverse the growing heap again and again during the import and free
nothing. `evalctl/__init__` imports this module first and calls `resume` once its imports
are done (in a `finally`: a failed import too), so importing evalctl leaves the collector as
it found it.

The `evalctl` command holds it paused a little longer: turned back on as evalctl finishes
loading, the collector would at once traverse everything the import made (all of it young),
and again, a generation up, while the CLI's modules load — ~25 ms of CPU each on the 2-core
benchmark host, half the collector's whole cost in a profile-served `drift`. So there
`resume(hold=True)` leaves it paused and the command's entry point (`evalctl.cli.app.main`)
freezes what the imports made (`gc.freeze`: later collections skip it) before `release`
turns it back on.
"""

from __future__ import annotations

import gc

_was_enabled = gc.isenabled()
gc.disable()
_held = False


def resume(*, hold: bool = False) -> None:
    """Turn the collector back on if it was on before evalctl was imported; with `hold` (the
    `evalctl` command), not until `release`."""
    global _held
    if hold:
        _held = True
    elif _was_enabled:
        gc.enable()


def release() -> None:
    """Turn back on a collector `resume(hold=True)` kept paused (if it was on before evalctl
    was imported)."""
    global _held
    if _held and _was_enabled:
        gc.enable()
    _held = False
