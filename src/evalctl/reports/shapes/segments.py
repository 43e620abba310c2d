"""Segment rows in long format: a segment's metric (slices), a segment compared (validate,
compare)."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    STATUS,
    STRING,
    TEXT,
    WORDS,
    Shape,
    Use,
    common,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

SegmentMetric = Shape(
    "SegmentMetric",
    "one segment's metric, its interval and its gap to the rest: a declared slice's segment or a"
    " discovered one",
    fields=(
        *common("section slice segment metric ci_low ci_high p_value reason status change id "
                "score predicates"),
        F("value", NUMBER, null=True),
        F("ci_method", STRING),
        F("n", INTEGER),
        F("support", INTEGER),
        F("n_missing_label", INTEGER),
        F("gap_vs_overall", NUMBER,
          "value minus the overall value, signed so that negative is worse; null when"
          " either is null", null=True),
        F("rest_value", NUMBER,
          "the metric on every other row of the selection; null when it cannot be "
          "computed", null=True),
        F("p_adjusted", NUMBER, null=True),
        F("significant_worse", BOOLEAN,
          "whether the segment is significantly worse than the rest (adjusted p-value below "
          "alpha)"),
        F("compare_value", NUMBER,
          "--compare: the segment's metric on the comparison selection; null when "
          "absent there", null=True),
        F("relative_change", NUMBER,
          "--compare: change minus the overall change (the segment against the trend)", null=True),
        F("change_p_adjusted", NUMBER, "--compare: adjusted p-value of change", null=True),
        F("relative_p_adjusted", NUMBER,
          "--compare: adjusted p-value of relative_change", null=True),
        F("worsened", BOOLEAN, "--compare: the segment got significantly worse than the trend"),
        F("emerged", BOOLEAN, "--compare: the segment is new, or too small before"),
        F("share", NUMBER, null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("slice", "slice", 0, WORDS),
        C("segment", "segment", 0),
        C("n", "n", 1),
        C("value", "metric", 0),
        C("ci_low", "CI low", 2),
        C("ci_high", "CI high", 2),
        C("gap_vs_overall", "vs overall", 1),
        C("p_adjusted", "p (BH)", 3),
        C("compare_value", "before", 2),
        C("change", "change", 1),
        C("relative_change", "vs trend", 2),
        C("reason", "note", 2, TEXT),
        C("share", "share", 1),
        C("score", "score", 2),
        C("id", "segment id", 3),
    ),
    uses=(
        Use("slices", "declared",
            "section slice segment metric value ci_low ci_high ci_method n support "
            "n_missing_label gap_vs_overall rest_value p_value p_adjusted reason "
            "significant_worse status ?compare_value ?change ?relative_change ?change_p_adjusted"
            " ?relative_p_adjusted ?worsened ?emerged",
            "status, slice, segment, n, value, ci_low, ci_high, gap_vs_overall, p_adjusted, "
            "compare_value, change, relative_change, reason"),
        Use("slices", "discovered",
            "section slice segment id metric value n share score gap_vs_overall p_value "
            "p_adjusted significant_worse predicates status ?reason",
            "status, segment=discovered slice/words, n, share, value=error, gap_vs_overall, "
            "score, p_adjusted@2, id"),
    ),
)


SegmentComparison = Shape(
    "SegmentComparison",
    "one segment and metric of one model, against the baseline (validate) or the champion "
    "(compare), in long format",
    fields=(
        *common("slice segment metric baseline p_value ci_high ci_method"),
        F("n", INTEGER, "rows of the segment (the same for every model)"),
        F("candidate", NUMBER, null=True),
        F("delta", NUMBER,
          "candidate minus baseline (validate) or challenger minus champion (compare), signed "
          "so that negative is worse; null for the champion", null=True),
        F("candidate_ci", ARRAY),
        F("baseline_ci", ARRAY),
        F("reason", STRING, "why the metric is null", null=True),
        F("status", STATUS,
          "the row's status (compare: the segment's, the same on every model's row of it)"),
        F("why", STRING, null=True),
        F("version", STRING, "the model version of this row"),
        F("role", STRING, "champion or challenger"),
        F("value", NUMBER, "the model's metric", null=True),
        F("ci_low", NUMBER, "the metric's interval", null=True),
        F("delta_ci_low", NUMBER, "the difference's interval", null=True),
        F("delta_ci_high", NUMBER, "the difference's interval, upper end", null=True),
        F("test", STRING, "the paired test", null=True),
        F("statistic", NUMBER, null=True),
        F("p_adjusted", NUMBER, "Holm-adjusted", null=True),
        F("significant", BOOLEAN, null=True),
        F("regressed", BOOLEAN,
          "significantly worse by more than the gate's max_slice_drop", null=True),
        F("positive_rate", NUMBER, "without ground truth: share predicted positive", null=True),
        F("mean_prediction", NUMBER,
          "without ground truth (regression): mean prediction", null=True),
        F("mean_score", NUMBER, "without ground truth: mean score", null=True),
        F("agreement", NUMBER,
          "without ground truth: share of predictions equal to the champion's; null for the "
          "champion", null=True),
        F("mean_abs_diff", NUMBER,
          "without ground truth (regression): mean absolute difference from the champion's "
          "predictions", null=True),
        F("winner", STRING, "the significantly best model of the segment", null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("slice", "slice", 0, WORDS),
        C("segment", "segment", 0),
        C("metric", "metric", 0),
        C("n", "n", 2),
        C("baseline", "baseline", 1),
        C("candidate", "candidate", 1),
        C("delta", "delta", 0),
        C("why", "why", 2, TEXT),
        C("version", "model", 0),
        C("value", "metric", 0),
        C("positive_rate", "positive rate", 0),
        C("mean_prediction", "mean prediction", 0),
        C("mean_score", "mean score", 2),
        C("agreement", "agreement", 1),
        C("mean_abs_diff", "mean abs diff", 1),
        C("p_adjusted", "p (Holm)", 3),
        C("winner", "winner", 1),
    ),
    uses=(
        Use("validate", None,
            "slice segment metric n candidate baseline delta candidate_ci baseline_ci p_value "
            "?reason status why",
            "status, slice, segment, metric, n, baseline, candidate, delta, why"),
        Use("compare", None,
            "status slice segment n version role ?value ?ci_low ?ci_high ?ci_method ?reason "
            "?delta ?delta_ci_low ?delta_ci_high ?test ?statistic ?p_value ?p_adjusted "
            "?significant ?regressed ?positive_rate ?mean_prediction ?mean_score ?agreement "
            "?mean_abs_diff ?winner ?why",
            "status, slice, segment, n, version, value, positive_rate, mean_prediction, "
            "mean_score, delta=vs champion@1, agreement, mean_abs_diff, p_adjusted, winner, why"),
    ),
)
