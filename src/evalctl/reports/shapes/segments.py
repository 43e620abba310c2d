"""Segment rows in long format: a segment's metric (slices), a segment compared (validate,
compare)."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

SegmentMetric = Shape(
    "SegmentMetric",
    "one segment's metric, its interval and its gap to the rest: a declared slice's segment or a"
    " discovered one",
    fields=common("section slice segment metric ci_low ci_high p_value reason "
                  "status change id score predicates") + fields("""
        value                number?
        ci_method            string
        n                    integer
        support              integer
        n_missing_label      integer
        gap_vs_overall       number?  value minus the overall value, signed so that negative is
            worse; null when either is null
        rest_value           number?  the metric on every other row of the selection; null when it
            cannot be computed
        p_adjusted           number?
        significant_worse    boolean  whether the segment is significantly worse than the rest
            (adjusted p-value below alpha)
        compare_value        number?  --compare: the segment's metric on the comparison selection;
            null when absent there
        relative_change      number?  --compare: change minus the overall change (the segment
            against the trend)
        change_p_adjusted    number?  --compare: adjusted p-value of change
        relative_p_adjusted  number?  --compare: adjusted p-value of relative_change
        worsened             boolean  --compare: the segment got significantly worse than the trend
        emerged              boolean  --compare: the segment is new, or too small before
        share                number?
    """),
    columns=columns("""
        status@0, slice@0/words, segment@0, n, value=metric@0, ci_low=CI low@2, ci_high=CI high@2,
        gap_vs_overall=vs overall, p_adjusted=p (BH)@3, compare_value=before@2, change,
        relative_change=vs trend@2, reason=note@2/text, share, score@2, id=segment id@3
    """),
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
    fields=common("slice segment metric baseline p_value ci_high ci_method") + fields("""
        n                integer   rows of the segment (the same for every model)
        candidate        number?
        delta            number?   candidate minus baseline (validate) or challenger minus champion
            (compare), signed so that negative is worse; null for the champion
        candidate_ci     array
        baseline_ci      array
        reason           string?   why the metric is null
        status           status    the row's status (compare: the segment's, the same on every
            model's row of it)
        why              string?
        version          string    the model version of this row
        role             string    champion or challenger
        value            number?   the model's metric
        ci_low           number?   the metric's interval
        delta_ci_low     number?   the difference's interval
        delta_ci_high    number?   the difference's interval, upper end
        test             string?   the paired test
        statistic        number?
        p_adjusted       number?   Holm-adjusted
        significant      boolean?
        regressed        boolean?  significantly worse by more than the gate's max_slice_drop
        positive_rate    number?   without ground truth: share predicted positive
        mean_prediction  number?   without ground truth (regression): mean prediction
        mean_score       number?   without ground truth: mean score
        agreement        number?   without ground truth: share of predictions equal to the
            champion's; null for the champion
        mean_abs_diff    number?   without ground truth (regression): mean absolute difference from
            the champion's predictions
        winner           string?   the significantly best model of the segment
    """),
    columns=columns("""
        status@0, slice@0/words, segment@0, metric@0, n@2, baseline, candidate, delta@0,
        why@2/text, version=model@0, value=metric@0, positive_rate=positive rate@0,
        mean_prediction=mean prediction@0, mean_score=mean score@2, agreement,
        mean_abs_diff=mean abs diff, p_adjusted=p (Holm)@3, winner
    """),
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
