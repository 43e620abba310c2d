"""Pure checks: summaries (or joined frames) in, numbers and verdicts out. No I/O, no clock.

    result = evaluate_feature(ref_summary, cur_summary, "numeric")    # Wasserstein by default
    result = evaluate_feature(ref_summary, cur_summary, "numeric", method="ks", warn=0.05)
"""

from evalctl.checks.evaluate import (
    compute_score,
    evaluate_feature,
    judge,
    resolve_measure,
    resolve_thresholds,
)
from evalctl.checks.measure import Measure, Score
from evalctl.checks.quality import compare_schemas
from evalctl.checks.registry import DEFAULT_METHOD, MEASURES
from evalctl.checks.series import (
    INSUFFICIENT,
    adjust_pvalues_bh,
    chunk_band_thresholds,
    data_driven_threshold,
    find_onset,
    mark_insufficient,
)
from evalctl.checks.transform_skew import CURRENT_SUFFIX, join_on_id, transform_skew

__all__ = [
    "CURRENT_SUFFIX",
    "DEFAULT_METHOD",
    "INSUFFICIENT",
    "MEASURES",
    "Measure",
    "Score",
    "adjust_pvalues_bh",
    "chunk_band_thresholds",
    "compare_schemas",
    "compute_score",
    "data_driven_threshold",
    "evaluate_feature",
    "find_onset",
    "join_on_id",
    "judge",
    "mark_insufficient",
    "resolve_measure",
    "resolve_thresholds",
    "transform_skew",
]
