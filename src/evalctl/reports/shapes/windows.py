"""The window point: one window's estimate (estimate) or two-sample test (drift --multivariate)."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    TEXT,
    TIMESTAMP,
    Shape,
    Use,
    common,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

WindowPoint = Shape(
    "WindowPoint",
    "one window's result: its estimated (and, once labelled, realized) performance, or its "
    "classifier two-sample test",
    fields=(
        *common("section status labelled_rows reason decided_by decided_by_text ci_high"),
        F("window_start", TIMESTAMP, "the window's first instant (RFC 3339, Z) or day"),
        F("window_end", TIMESTAMP),
        F("rows", INTEGER, "rows in the window"),
        F("metric", STRING,
          "the estimated metric of this row (one row per window and metric; the summary's "
          "metric, the headline, comes first)"),
        F("estimated", NUMBER,
          "the metric estimated without labels; null when it cannot be estimated (reason)",
          null=True),
        F("lower", NUMBER, "the estimate's band (inputs.confidence), lower end", null=True),
        F("upper", NUMBER, "the estimate's band, upper end", null=True),
        F("se", NUMBER, "the estimate's standard error", null=True),
        F("realized", NUMBER,
          "the metric on the window's labelled rows; null before labels arrive", null=True),
        F("error", NUMBER, "estimated minus realized; null without labels", null=True),
        F("in_band", BOOLEAN,
          "whether realized lies in [lower, upper]; null without labels or band", null=True),
        F("why", STRING,
          "on the headline metric's row the window's status in words (its first alert, +N "
          "more); on another metric's row that metric's own alert; null when there is none",
          null=True),
        F("alerts", ARRAY, "every reason behind the window's status, in words, failures first"),
        F("proxies", OBJECT,
          "per proxy column: its mean, rows, reference mean, difference, Welch test, PSI and "
          "status in the window"),
        F("proxy_means", ARRAY,
          "each proxy column's mean in the window, in the order of inputs.proxies"),
        F("contradicted", BOOLEAN,
          "the window's realised headline metric lies beyond its band by more than one "
          "half-width more (concept drift)"),
        F("rows_reference", INTEGER, "sampled reference rows"),
        F("rows_window", INTEGER, "sampled window rows"),
        F("auroc", NUMBER,
          "cross-fitted out-of-fold AUROC; 0.5 = no drift; null when insufficient", null=True),
        F("ci_low", NUMBER, "DeLong interval", null=True),
        F("p_value", NUMBER, "one-sided Mann-Whitney p-value against AUROC 0.5", null=True),
        F("threshold", NUMBER, "the AUROC from which a significant window fails", null=True),
        F("top_features", STRING, "the most important features in words", null=True),
        F("importance", ARRAY,
          "permutation importance: mean held-out AUROC drop when the feature is shuffled, "
          "largest first; empty when the window is not significant"),
    ),
    columns=(
        C("status", "status", 0),
        C("window_start", "window", 0),
        C("rows", "rows", 2),
        C("labelled_rows", "labelled", 2),
        C("metric", "metric", 0),
        C("estimated", "estimated", 0),
        C("lower", "band low", 1),
        C("upper", "band high", 1),
        C("realized", "realized", 1),
        C("in_band", "in band", 3),
        C("why", "why", 2, TEXT),
        C("auroc", "auroc", 0),
        C("ci_low", "CI low", 2),
        C("ci_high", "CI high", 2),
        C("p_value", "p", 1),
        C("threshold", "fail at", 3),
        C("top_features", "driven by", 1, TEXT),
        C("reason", "note", 2, TEXT),
    ),
    uses=(
        Use("estimate", "windows",
            "section status window_start window_end rows labelled_rows metric estimated lower "
            "upper se realized error in_band why reason alerts decided_by decided_by_text "
            "?contradicted proxies proxy_means",
            "status, window_start, metric, rows, labelled_rows, estimated, lower, upper, "
            "realized, in_band, why"),
        Use("drift", "multivariate",
            "section status window_start window_end rows rows_reference rows_window auroc ci_low"
            " ci_high p_value threshold top_features importance reason",
            "status, window_start, rows, auroc, ci_low, ci_high, p_value, threshold, "
            "top_features, reason"),
        Use("estimate", "estimate",
            "status section reason",
            "status, reason=reason@0"),
    ),
)
