"""Model-performance metrics per slice, with confidence intervals.

``compute_metrics(lf, task, label=..., score=..., prediction=..., group=..., slices=[...])``
(or ``compute_model_metrics(lf, model_config)``, which takes the columns and declared slices
from the config) returns one long, tidy frame, one row per (slice, segment, metric):

=================  ==========================================================================
column             meaning
=================  ==========================================================================
slice              slice name; ``overall`` (segment ``all``) always comes first
segment            segment label: key values as text joined by `` & ``, null as ``(missing)``
metric             metric name (see METRICS)
value              the metric, or null when undefined for the segment (then `reason` says why)
ci_low, ci_high    confidence interval (default 95 %); null when it cannot be computed
ci_method          how the interval was computed (table below)
n                  evaluated rows (label present, score/prediction valid); queries for ranking
n_missing_label    rows whose label is null or NaN (excluded)
n_excluded         rows with a label but a null / NaN / infinite score or prediction, or a null
                   query id (excluded from every metric of the task)
support            units the metric averages over: rows, predicted positives (precision),
                   positives (recall, average precision), non-zero labels (MAPE), queries
reason             null, or why the value is undefined ("single class in segment", ...)
note               extra information, e.g. MAPE's "excluded 3 rows with label 0"
=================  ==========================================================================

Metrics and intervals
---------------------

Each metric is declared once in `catalogue.CATALOGUE` (task, direction, proportion, needs a
score, default, paired test, per-row term); METRICS, PROPORTION_METRICS and the task modules'
lists are read from it.

binary_classification (prediction given, or score >= threshold; labels 0/1 or boolean)
  accuracy, precision, recall, positive_rate (predicted)   Wilson score interval
  f1                      delta method, Var = 4 tp (fp+fn)(tp+fp+fn) / (2tp+fp+fn)^4
  roc_auc                 exact Mann-Whitney with average ranks for ties; DeLong variance
                          (null interval below 2 positives or negatives; zero width at 0 / 1)
  average_precision       scikit-learn's step definition; logit interval with n = positives
                          (Boyd, Eng & Page 2013) - an approximation
  log_loss (p clipped to [1e-15, 1 - 1e-15]), brier   normal interval from sum and sum of squares
  ece                     10 equal-width bins [k/10, (k+1)/10), last bin closed, weighted by bin
                          size; multinomial bootstrap over (bin, label) cells with each cell's
                          mean score held fixed (percentile interval)
multiclass_classification
  accuracy                Wilson
  macro_f1, weighted_f1   scikit-learn definitions (classes present in labels or predictions);
                          multinomial bootstrap over confusion cells (exact row bootstrap)
regression (predicted value: score, else prediction)
  mae, mean_error (bias, prediction - label)   normal interval from moments
  rmse                    delta method on the mean squared error
  mape                    rows with label 0 excluded and counted in `note`; normal interval
  r2                      delta method on the influence function (moments up to order 4)
ranking (group = query id; NDCG with linear gains, scikit-learn's tie averaging; MRR and hit
rate use the first item with label > 0, ties broken against the model; slices must take one
value per query)
  ndcg (@k), mrr          mean over queries, normal interval from query-level moments
  hit_rate (@k)           Wilson over queries

`ci_method` values: ``wilson``, ``delta``, ``delong``, ``logit (Boyd 2013)``, ``normal``,
``bootstrap (bin x label cells)``, ``bootstrap (confusion cells)``, ``normal (over queries)``,
``wilson (over queries)``. Normal intervals are clipped to the metric's range.

Bootstraps use `n_boot` replicates seeded by `seed` and the segment's identity; nothing is
rescanned: they resample the per-segment cell counts.

Undefined values are null with a reason, never NaN or inf: AUC with one class, precision with no
predicted positives, recall / average precision with no positives, R² with a constant label or
fewer than two rows, log loss / Brier / ECE when scores fall outside [0, 1], MAPE when every
label is 0, any metric of a segment without evaluable rows.

Significance: `two_proportion_pvalues`, `adjust_pvalues` (Benjamini-Hochberg, Holm),
`compare_to_overall` (each segment against the rest of the data) and `compare_to_reference`
(each segment against the same segment of another frame, e.g. another window).
"""

from evalctl.metrics.compute import (
    METRICS,
    TASKS,
    choose_metrics,
    compute_metrics,
    compute_model_metrics,
)
from evalctl.metrics.frame import OUTPUT_SCHEMA
from evalctl.metrics.intervals import wilson_interval
from evalctl.metrics.significance import (
    PROPORTION_METRICS,
    adjust_pvalues,
    compare_to_overall,
    compare_to_reference,
    two_proportion_pvalues,
)
from evalctl.metrics.slices import (
    MISSING_SEGMENT,
    OVERALL,
    OVERALL_SEGMENT,
    SliceKey,
    bin_expr,
    binned_slice,
    column_slice,
    crossed_slice,
    slices_from_config,
)

__all__ = [
    "METRICS", "MISSING_SEGMENT", "OUTPUT_SCHEMA", "OVERALL", "OVERALL_SEGMENT",
    "PROPORTION_METRICS", "TASKS", "SliceKey", "adjust_pvalues", "bin_expr", "binned_slice",
    "choose_metrics", "column_slice", "compare_to_overall", "compare_to_reference",
    "compute_metrics", "compute_model_metrics", "crossed_slice",
    "slices_from_config", "two_proportion_pvalues", "wilson_interval",
]
