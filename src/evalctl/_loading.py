"""Start-up time: the cyclic garbage collector is paused while evalctl's modules load.

Importing evalctl (polars, numpy, the settings, checks and report modules) makes a few hundred
thousand objects that live as long as the process. The collector, run every few hundred
allocations, would traverse the growing heap again and again during the import and free
nothing. `evalctl/__init__` imports this module first and calls `resume` once its imports
are done (in a `finally`: a failed import too), so importing evalctl leaves the collector as
it found it. The CLI then freezes what the import
made (`gc.freeze` in `evalctl.cli.app.main`), so later collections skip it too.
"""

from __future__ import annotations

import gc

_was_enabled = gc.isenabled()
gc.disable()


def resume() -> None:
    """Turn the collector back on if it was on before evalctl was imported."""
    if _was_enabled:
        gc.enable()
