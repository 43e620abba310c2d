"""Every measure evalctl knows, as a plain dict, with default thresholds.

Effect sizes decide by default; p-values are reported beside them (docs/contract.md, Statistics):
on samples of millions every p-value is tiny, so gating on one would cry wolf. Each default is
justified in its function's docstring.
"""

from __future__ import annotations

from typing import Any

from evalctl.checks import categorical, distribution, numeric, quality
from evalctl.checks.measure import Measure

BOTH = ("numeric", "categorical")
NUMERIC = ("numeric",)
CATEGORICAL = ("categorical",)

# Chosen from evidence (benchmarks/drift_defaults.py, README "Choosing drift defaults"): at 10k
# to 5M rows per side these flag every material planted shift and no negligible or unchanged one.
DEFAULT_METHOD = {"numeric": "wasserstein", "categorical": "jensen_shannon"}


def _measure(name: str, kinds: tuple[str, ...], warn: float, fail: float, function: Any,
             higher_is_worse: bool = True, needs_values: bool = True, batch: Any = None
             ) -> Measure:
    doc = (function.__doc__ or "").strip().splitlines()[0]
    return Measure(name, kinds, warn, fail, higher_is_worse, function, doc, needs_values, batch)


MEASURES: dict[str, Measure] = {
    m.name: m for m in (
        _measure("psi", BOTH, 0.1, 0.25, distribution.psi),
        _measure("jensen_shannon", BOTH, 0.1, 0.2, distribution.jensen_shannon),
        _measure("hellinger", BOTH, 0.1, 0.2, distribution.hellinger),
        _measure("ks", NUMERIC, 0.1, 0.2, numeric.kolmogorov_smirnov),
        _measure("wasserstein", NUMERIC, 0.1, 0.2, numeric.wasserstein,
                 batch=numeric.wasserstein_scores),
        _measure("l_infinity", CATEGORICAL, 0.1, 0.2, distribution.l_infinity),
        _measure("chi_square", CATEGORICAL, 0.05, 0.01, distribution.chi_square,
                 higher_is_worse=False),
        _measure("unseen", CATEGORICAL, 0.05, 0.2, categorical.unseen_share),
        _measure("vanished", CATEGORICAL, 0.05, 0.2, categorical.vanished_share),
        _measure("null_rate_change", BOTH, 0.05, 0.1, quality.null_rate_change,
                 needs_values=False),
        _measure("out_of_range", NUMERIC, 0.05, 0.2, quality.out_of_range_share),
    )
}
