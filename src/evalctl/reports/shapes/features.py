"""Shapes of per-feature verdicts and checks: skew, drift, monitor, history."""

from __future__ import annotations

from evalctl.reports.shape import (
    ANY,
    ARRAY,
    BOOLEAN,
    DATE,
    INTEGER,
    NUMBER,
    OBJECT,
    SCALAR,
    SPARK,
    STATUS,
    STRING,
    TEXT,
    TIMESTAMP,
    WORDS,
    Shape,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

DistributionVerdict = Shape(
    "DistributionVerdict", "one feature's distribution, reference against current",
    fields=(
        F("feature", STRING),
        F("kind", STRING),
        F("method", STRING),
        F("score", NUMBER,
          "the measure's value; null when it cannot be computed (reason says why)", null=True),
        F("warn", NUMBER, "the value at which the result warns", null=True),
        F("threshold", NUMBER, "the value at which the result fails", null=True),
        F("higher_is_worse", BOOLEAN),
        F("status", STATUS),
        F("reference", OBJECT),
        F("current", OBJECT),
        F("null_rate_change", NUMBER, null=True),
        F("out_of_range_share", NUMBER, null=True, optional=True),
        F("summary", STRING),
        F("bins", INTEGER, optional=True),
        F("bin_edges", ARRAY, optional=True),
        F("log_base", (INTEGER, STRING), "of the logarithm: 2 or \"e\"", optional=True),
        F("epsilon", NUMBER, null=True, optional=True),
        F("section", STRING, "which table of the report the result belongs to"),
        F("quality_alerts", ARRAY, optional=True),
        F("histogram", OBJECT, "both sides' counts in the reference's bins, for charts",
          null=True, optional=True),
        F("decided_by", OBJECT,
          "the check that set the status when it is not the measure's own threshold",
          null=True, optional=True),
        F("decided_by_text", STRING, "decided_by in words", null=True, optional=True),
        F("unseen", OBJECT, optional=True),
        F("vanished", OBJECT, optional=True),
        F("categories", INTEGER, optional=True),
        F("buckets", INTEGER, optional=True),
        F("threshold_source", STRING, optional=True),
        F("measure_status", STRING, optional=True),
        F("reason", STRING, null=True, optional=True),
        # a measure's own details (evalctl/checks: Score.details), present with that measure
        F("statistic", NUMBER, "the test statistic (chi_square)", null=True, optional=True),
        F("dof", INTEGER, "degrees of freedom (chi_square)", null=True, optional=True),
        F("p_value", NUMBER, "the test's p-value (ks, chi_square): reported, never gating",
          null=True, optional=True),
        F("statistic_upper_bound", NUMBER, "ks: the exact statistic lies between score and this",
          null=True, optional=True),
        F("max_error", NUMBER, "ks, wasserstein: the exact value lies within this of the score",
          null=True, optional=True),
        F("fine_edges", INTEGER, "ks, wasserstein: the fine reference-quantile cells' inner edges",
          null=True, optional=True),
        F("distance", NUMBER, "wasserstein: the unnormalised distance", null=True, optional=True),
        F("distance_lower_bound", NUMBER, "wasserstein: a proven lower bound of the distance",
          null=True, optional=True),
        F("distance_upper_bound", NUMBER, "wasserstein: a proven upper bound of the distance",
          null=True, optional=True),
        F("reference_std", NUMBER, "wasserstein: the reference std it is divided by",
          null=True, optional=True),
        F("change", NUMBER, "null_rate_change: current minus reference null rate",
          null=True, optional=True),
        F("reference_null_rate", NUMBER, "null_rate_change: the reference's null rate",
          null=True, optional=True),
        F("current_null_rate", NUMBER, "null_rate_change: the current null rate",
          null=True, optional=True),
        F("below", INTEGER, "out_of_range: current values below the reference minimum",
          null=True, optional=True),
        F("above", INTEGER, "out_of_range: current values above the reference maximum",
          null=True, optional=True),
        F("reference_min", NUMBER, "out_of_range: the reference minimum", null=True, optional=True),
        F("reference_max", NUMBER, "out_of_range: the reference maximum", null=True, optional=True),
        F("p_value_adjusted", NUMBER, "chi_square: the p-value adjusted across features (BH)",
          null=True, optional=True),
        F("role", STRING, "output: the model's score or prediction column (listed first within "
          "its status); feature: an input feature",
          optional=True),
        F("p_test", STRING, "the test behind p_value: Kolmogorov-Smirnov (numeric) or "
          "chi-square of homogeneity (categorical)",
          optional=True),
        F("p_adjusted", NUMBER, "p_value adjusted with Benjamini-Hochberg across the report's"
          " checked columns (reported, never deciding: at millions of "
          "rows p-values flag negligible shifts)",
          null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("feature", "feature", 0),
        C("kind", "kind", 3),
        C("method", "method", 2),
        C("score", "score", 0),
        C("threshold", "fail at", 1),
        C("decided_by_text", "decided by", 1, TEXT),
        C("quality_alerts", "data quality", 2, TEXT),
        C("summary", "reference → current", 2, TEXT),
    ),
    rows_of=(("skew", "distribution"),),
)


TransformationVerdict = Shape(
    "TransformationVerdict", "one feature's values joined by id, reference against current",
    fields=(
        F("feature", STRING),
        F("kind", STRING),
        # the counts and thresholds are absent on a feature that could not be compared
        # (status error, `reason` says why: checks/transform_skew.py)
        F("rows", INTEGER, "joined rows", optional=True),
        F("either_null", INTEGER, "joined rows null on either side", optional=True),
        F("compared", INTEGER, "joined rows non-null on both sides", optional=True),
        F("mismatches", INTEGER, "compared rows whose values differ", optional=True),
        F("mismatch_rate", NUMBER, "mismatches / compared", null=True, optional=True),
        F("median_ratio", NUMBER, "median current / reference", null=True, optional=True),
        F("median_offset", NUMBER, "median current - reference", null=True, optional=True),
        F("samples", ARRAY, "a few mismatched pairs", optional=True),
        F("warn", NUMBER, "the value at which the result warns", null=True, optional=True),
        F("threshold", NUMBER, "the value at which the result fails", null=True,
          optional=True),
        F("score", NUMBER,
          "the measure's value; null when it cannot be computed (reason says why)", null=True),
        F("status", STATUS),
        F("section", STRING, "which table of the report the result belongs to"),
        F("method", STRING),
        F("hint", STRING, null=True),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("feature", "feature", 0),
        C("compared", "joined rows", 2),
        C("mismatch_rate", "mismatch", 1),
        C("median_ratio", "median ratio", 1),
        C("median_offset", "median offset", 2),
        C("hint", "looks like", 1, WORDS),
    ),
    rows_of=(("skew", "transformation"),),
)


SchemaVerdict = Shape(
    "SchemaVerdict", "the columns of the two exports",
    fields=(
        F("section", STRING, "which table of the report the result belongs to"),
        F("feature", STRING),
        F("kind", STRING),
        F("method", STRING),
        F("status", STATUS),
        F("missing", ARRAY),
        F("new", ARRAY),
        F("retyped", ARRAY),
        F("types_compared", BOOLEAN),
        F("summary", STRING),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("summary", "schema of the exports", 0, TEXT),
    ),
    rows_of=(("skew", "schema"),),
)


DriftVerdict = Shape(
    "DriftVerdict", "one feature's drift over the windows",
    fields=(
        F("feature", STRING),
        F("kind", STRING),
        F("status", STATUS),
        F("method", STRING),
        F("threshold", NUMBER, "the value at which the result fails", null=True),
        F("onset", TIMESTAMP,
          "first window of the run of crossing windows that is still going on (RFC 3339, Z); "
          "null when not drifting", null=True),
        F("decided_by", OBJECT,
          "the check that set the status when it is not the measure's own threshold", null=True),
        F("decided_by_text", STRING, "decided_by in words", null=True),
        F("score", NUMBER,
          "the measure's value; null when it cannot be computed (reason says why)", null=True),
        F("max_score", NUMBER, null=True),
        F("windows", INTEGER, "number of windows"),
        F("windows_judged", INTEGER),
        F("windows_crossed", INTEGER),
        F("windows_insufficient", INTEGER),
        F("reason", STRING, null=True, optional=True),
        F("series", ARRAY),
        F("role", STRING, "output: the model's score or prediction column (listed first within "
          "its status); feature: an input feature",
          optional=True),
        F("p_test", STRING, "the test behind p_value: Kolmogorov-Smirnov (numeric) or "
          "chi-square of homogeneity (categorical)",
          optional=True),
        F("p_value", NUMBER, "the latest judged window's p-value of p_test (reported, never "
          "deciding)",
          null=True, optional=True),
        F("p_adjusted", NUMBER, "the latest judged window's p-value adjusted with Benjamini-"
          "Hochberg across the columns of that window (reported, never "
          "deciding: at millions of rows p-values flag negligible "
          "shifts)",
          null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("feature", "feature", 0),
        C("method", "method", 3),
        C("score", "latest", 0),
        C("max_score", "max", 3),
        C("threshold", "fail at", 2),
        C("decided_by_text", "decided by", 1, TEXT),
        C("onset", "onset", 1),
        C("windows_crossed", "crossed", 2),
        C("series", "trend", 1, SPARK),
    ),
    rows_of=(("drift", None),),
)


MultivariateWindow = Shape(
    "MultivariateWindow", "one window's classifier two-sample test",
    fields=(
        F("section", STRING),
        F("status", STATUS),
        F("window_start", TIMESTAMP),
        F("window_end", TIMESTAMP),
        F("rows", INTEGER, "rows in the window"),
        F("rows_reference", INTEGER, "sampled reference rows"),
        F("rows_window", INTEGER, "sampled window rows"),
        F("auroc", NUMBER,
          "cross-fitted out-of-fold AUROC; 0.5 = no drift; null when insufficient", null=True),
        F("ci_low", NUMBER, "DeLong interval", null=True),
        F("ci_high", NUMBER, null=True),
        F("p_value", NUMBER, "one-sided Mann-Whitney p-value against AUROC 0.5", null=True),
        F("threshold", NUMBER, "the AUROC from which a significant window fails", null=True),
        F("top_features", STRING, "the most important features in words", null=True),
        F("importance", ARRAY,
          "permutation importance: mean held-out AUROC drop when the feature is shuffled, "
          "largest first; empty when the window is not significant"),
        F("reason", STRING, null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("window_start", "window", 0),
        C("rows", "rows", 2),
        C("auroc", "auroc", 0),
        C("ci_low", "CI low", 2),
        C("ci_high", "CI high", 2),
        C("p_value", "p", 1),
        C("threshold", "fail at", 3),
        C("top_features", "driven by", 1, TEXT),
        C("reason", "note", 2, TEXT),
    ),
    rows_of=(("drift", "multivariate"),),
)


CheckRow = Shape(
    "CheckRow", "one check of one model on one window",
    fields=(
        F("check", STRING),
        F("feature", STRING, null=True),
        F("value", SCALAR, null=True),
        F("threshold", NUMBER, "the value at which the result fails", null=True),
        F("status", STATUS),
        F("method", STRING, optional=True),
        F("onset", TIMESTAMP,
          "first window of the run of crossing windows that is still going on (RFC 3339, Z); "
          "null when not drifting", null=True, optional=True),
        F("windows_crossed_in_a_row", INTEGER, optional=True),
        F("reason", STRING, null=True, optional=True),
        F("decided_by", OBJECT,
          "the check that set the status when it is not the measure's own threshold",
          null=True, optional=True),
        F("decided_by_text", STRING, "decided_by in words", null=True, optional=True),
        F("summary", STRING),
        F("model", STRING),
        F("window", DATE),
        F("source", STRING, optional=True),
        F("ci", ARRAY, optional=True),
        F("reference_value", NUMBER, null=True, optional=True),
        F("reference", STRING, optional=True),
        F("evidence", OBJECT, optional=True),
        F("change", NUMBER, null=True, optional=True),
        F("coverage", NUMBER, null=True, optional=True),
        F("labelled", INTEGER, optional=True),
        F("latency_hours", NUMBER, null=True, optional=True),
        F("role", STRING, "output: the model's score or prediction column (listed first within "
          "its status); feature: an input feature",
          optional=True),
        F("p_test", STRING, "the test behind p_value: Kolmogorov-Smirnov (numeric) or "
          "chi-square of homogeneity (categorical)",
          optional=True),
        F("p_value", NUMBER, "drift: the p-value of p_test (reported, never deciding); "
          "multivariate: the classifier test's one-sided p-value "
          "against AUROC 0.5",
          null=True, optional=True),
        F("p_adjusted", NUMBER, "p_value adjusted with Benjamini-Hochberg across the report's"
          " checked columns (reported, never deciding: at millions of "
          "rows p-values flag negligible shifts)",
          null=True, optional=True),
        F("kind", STRING, null=True, optional=True),
        F("auroc", NUMBER, "multivariate: held-out AUROC of the classifier telling reference rows "
          "from the window's (0.5: indistinguishable)",
          null=True, optional=True),
        F("ci_low", NUMBER, null=True, optional=True),
        F("ci_high", NUMBER, null=True, optional=True),
        F("rows_reference", INTEGER, optional=True),
        F("rows_window", INTEGER, optional=True),
        F("top_features", STRING, null=True, optional=True),
        F("importance", ARRAY, "multivariate: the features the classifier relied on most (held-out "
          "AUROC drop when shuffled)",
          optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("model", "model", 3),
        C("window", "window", 2),
        C("check", "check", 0),
        C("feature", "feature", 0, WORDS),
        C("value", "value", 0),
        C("decided_by_text", "decided by", 1, TEXT),
        C("threshold", "threshold", 1),
        C("summary", "evidence", 2, TEXT),
    ),
    rows_of=(("monitor", None),),
)


CheckHistory = Shape(
    "CheckHistory", "one check's results over the monitored windows",
    fields=(
        F("check", STRING),
        F("feature", STRING, null=True),
        F("status", STATUS),
        F("latest", SCALAR),
        F("first_window", DATE),
        F("last_window", DATE),
        F("windows", INTEGER, "number of windows"),
        F("windows_alerting", INTEGER),
        F("summary", STRING),
        F("decided_by", ANY,
          "the check that set the status when it is not the measure's own threshold", null=True),
        F("decided_by_text", ANY, "decided_by in words", null=True),
        F("series", ARRAY),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "latest", 0),
        C("check", "check", 0),
        C("feature", "feature", 0),
        C("latest", "value", 0),
        C("first_window", "from", 2),
        C("last_window", "to", 2),
        C("decided_by_text", "decided by", 1, TEXT),
        C("windows_alerting", "alerting", 1),
        C("series", "trend", 1, SPARK),
    ),
    rows_of=(("history", None),),
)


GaugeSample = Shape(
    "GaugeSample", "one Prometheus gauge sample of a model's newest monitored window (`metrics`)",
    fields=(
        F("gauge", STRING, "the metric name (evalctl_check_score, evalctl_rows, …)"),
        F("model", STRING),
        F("check", STRING, optional=True),
        F("feature", STRING, "empty for a result without a feature", optional=True),
        F("metric", STRING, optional=True),
        F("value", NUMBER),
        F("status", STATUS, "status of the result the sample measures"),
    ),
    columns=(
        C("status", "status", 0),
        C("gauge", "gauge", 0),
        C("model", "model", 3),
        C("check", "check", 1),
        C("feature", "feature", 1, WORDS),
        C("metric", "metric", 2),
        C("value", "value", 0),
    ),
    rows_of=(("metrics", None),),
)


ReportPart = Shape(
    "ReportPart", "one part of the health page (`report`): a command's own report",
    fields=(
        F("part", STRING, "skew, drift, slices, estimate or monitor"),
        F("status", STATUS),
        F("summary", STRING, "the part's status counters in words (null when it could not be "
          "made)", null=True),
        F("reason", STRING, "why the part could not be made (null when it was)", null=True),
        F("report", OBJECT, "the part's own report envelope", null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("part", "part", 0),
        C("summary", "results", 1, WORDS),
        C("reason", "reason", 2, TEXT),
    ),
    rows_of=(("report", None),),
)
