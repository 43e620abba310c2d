"""Mergeable summaries: fit bins once on the reference, then count every window in one pass.

    binning = fit_binning(reference_lf, {"age": "numeric", "country": "categorical"})
    ref = summarize(reference_lf, binning)[None]
    windows = summarize(current_lf, binning, by=pl.col("ts").dt.truncate("1d"))
"""

from evalctl.stats.binning import Binning, CategoricalBins, NumericBins, fit_binning
from evalctl.stats.summarize import summarize, summary_query
from evalctl.stats.summary import (
    CategoricalSummary,
    NumericSummary,
    Summary,
    merge,
    merge_moments,
    summary_from_dict,
)

__all__ = [
    "Binning",
    "CategoricalBins",
    "CategoricalSummary",
    "NumericBins",
    "NumericSummary",
    "Summary",
    "fit_binning",
    "merge",
    "merge_moments",
    "summarize",
    "summary_query",
    "summary_from_dict",
]
