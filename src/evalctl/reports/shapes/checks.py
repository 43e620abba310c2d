"""The check row: one check's result (monitor), its history (history), a health-page part
(report)."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

CheckRow = Shape(
    "CheckRow",
    "one check's result: of one model on one window (monitor), over the monitored windows "
    "(history), or one part of the health page (report)",
    fields=common("check threshold status method onset decided_by decided_by_text "
                  "model change role p_test ci_low ci_high windows series") + fields("""
        feature                   string?
        value                     scalar?
        windows_crossed_in_a_row  integer  drift: consecutive windows, up to the latest, whose
            score crossed the threshold
        reason                    string?  why the result was not judged (report: why the part
            could not be made); null otherwise
        summary                   string?  the result in words (report: the part's status counters;
            null when it could not be made)
        window                    date     the monitored window's day (YYYY-MM-DD)
        source                    string   performance: where the value comes from: realised
            (labels), estimated (CBPE/DLE) or unknown
        ci                        array    performance: the value's interval, lower and upper end
        reference_value           number?  performance: the metric on the reference; null when it
            cannot be computed
        reference                 string
        evidence                  object   the findings behind the verdict, by check (retrain and
            summary rows)
        coverage                  number?  labels: share of the window's rows with ground truth (0
            to 1); null without rows
        labelled                  integer  labels: rows of the window with ground truth
        latency_hours             number?  labels: median hours from prediction to label; null
            without labels
        p_value                   number?  drift: the p-value of p_test (reported, never deciding);
            multivariate: the classifier test's one-sided p-value against AUROC 0.5
        p_adjusted                number?  p_value adjusted with Benjamini-Hochberg across the
            report's checked columns (reported, never deciding: at millions of rows p-values flag
            negligible shifts)
        kind                      string?
        auroc                     number?  multivariate: held-out AUROC of the classifier telling
            reference rows from the window's (0.5: indistinguishable)
        rows_reference            integer  multivariate: sampled reference rows the classifier was
            trained on
        rows_window               integer  multivariate: sampled window rows the classifier was
            trained on
        top_features              string?  multivariate: the most important features in words; null
            when not significant
        importance                array    multivariate: the features the classifier relied on most
            (held-out AUROC drop when shuffled)
        latest                    scalar   the check's value in the newest window
        first_window              date     the oldest window of the history (YYYY-MM-DD)
        last_window               date     the newest window of the history (YYYY-MM-DD)
        windows_alerting          integer  windows of the history whose status was warn or fail
        part                      string   skew, drift, slices, estimate or monitor
        report                    object?  the part's own report envelope
    """),
    columns=columns("""
        status@0, model@3, window@2, check@0, feature@0/words, value@0,
        decided_by_text=decided by/text, threshold, summary=evidence@2/text, latest=value@0,
        first_window=from@2, last_window=to@2, windows_alerting=alerting, series=trend/spark,
        part@0, reason@2/text
    """),
    uses=(
        Use("monitor", None,
            "check feature value threshold status ?method ?onset ?windows_crossed_in_a_row "
            "?reason ?decided_by ?decided_by_text summary! model window ?source ?ci "
            "?reference_value ?reference ?evidence ?change ?coverage ?labelled ?latency_hours "
            "?role ?p_test ?p_value ?p_adjusted ?kind ?auroc ?ci_low ?ci_high ?rows_reference "
            "?rows_window ?top_features ?importance",
            "status, model, window, check, feature, value, decided_by_text, threshold, summary"),
        Use("history", None,
            "check feature status latest first_window last_window windows windows_alerting "
            "summary! decided_by decided_by_text series ?reason",
            "status=latest, check, feature/atom, latest, first_window, last_window, "
            "decided_by_text, windows_alerting, series"),
        Use("report", None,
            "part status summary reason report",
            "status, part, summary=results@1/words, reason"),
    ),
)
