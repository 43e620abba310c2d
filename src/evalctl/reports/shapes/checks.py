"""The check row: one check's result (monitor), its history (history), a health-page part
(report)."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    DATE,
    INTEGER,
    NUMBER,
    OBJECT,
    SCALAR,
    SPARK,
    STRING,
    TEXT,
    WORDS,
    Shape,
    Use,
    common,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

CheckRow = Shape(
    "CheckRow",
    "one check's result: of one model on one window (monitor), over the monitored windows "
    "(history), or one part of the health page (report)",
    fields=(
        *common("check threshold status method onset decided_by decided_by_text model change role "
                "p_test ci_low ci_high windows series"),
        F("feature", STRING, null=True),
        F("value", SCALAR, null=True),
        F("windows_crossed_in_a_row", INTEGER,
          "drift: consecutive windows, up to the latest, whose score crossed the threshold"),
        F("reason", STRING,
          "why the result was not judged (report: why the part could not be made); null "
          "otherwise", null=True),
        F("summary", STRING,
          "the result in words (report: the part's status counters; null when it could not be "
          "made)", null=True),
        F("window", DATE, "the monitored window's day (YYYY-MM-DD)"),
        F("source", STRING,
          "performance: where the value comes from: realised (labels), estimated (CBPE/DLE) or "
          "unknown"),
        F("ci", ARRAY, "performance: the value's interval, lower and upper end"),
        F("reference_value", NUMBER,
          "performance: the metric on the reference; null when it cannot be computed", null=True),
        F("reference", STRING),
        F("evidence", OBJECT,
          "the findings behind the verdict, by check (retrain and summary rows)"),
        F("coverage", NUMBER,
          "labels: share of the window's rows with ground truth (0 to 1); null "
          "without rows", null=True),
        F("labelled", INTEGER, "labels: rows of the window with ground truth"),
        F("latency_hours", NUMBER,
          "labels: median hours from prediction to label; null without labels", null=True),
        F("p_value", NUMBER,
          "drift: the p-value of p_test (reported, never deciding); multivariate: the classifier"
          " test's one-sided p-value against AUROC 0.5", null=True),
        F("p_adjusted", NUMBER,
          "p_value adjusted with Benjamini-Hochberg across the report's checked columns "
          "(reported, never deciding: at millions of rows p-values flag negligible shifts)",
          null=True),
        F("kind", STRING, null=True),
        F("auroc", NUMBER,
          "multivariate: held-out AUROC of the classifier telling reference rows from the "
          "window's (0.5: indistinguishable)", null=True),
        F("rows_reference", INTEGER,
          "multivariate: sampled reference rows the classifier was trained on"),
        F("rows_window", INTEGER,
          "multivariate: sampled window rows the classifier was trained on"),
        F("top_features", STRING,
          "multivariate: the most important features in words; null when not "
          "significant", null=True),
        F("importance", ARRAY,
          "multivariate: the features the classifier relied on most (held-out AUROC drop when "
          "shuffled)"),
        F("latest", SCALAR, "the check's value in the newest window"),
        F("first_window", DATE, "the oldest window of the history (YYYY-MM-DD)"),
        F("last_window", DATE, "the newest window of the history (YYYY-MM-DD)"),
        F("windows_alerting", INTEGER, "windows of the history whose status was warn or fail"),
        F("part", STRING, "skew, drift, slices, estimate or monitor"),
        F("report", OBJECT, "the part's own report envelope", null=True),
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
        C("latest", "value", 0),
        C("first_window", "from", 2),
        C("last_window", "to", 2),
        C("windows_alerting", "alerting", 1),
        C("series", "trend", 1, SPARK),
        C("part", "part", 0),
        C("reason", "reason", 2, TEXT),
    ),
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
