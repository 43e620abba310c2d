"""Shapes of per-window results: `estimate` windows and proxies."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    OBJECT,
    STATUS,
    STRING,
    TEXT,
    TIMESTAMP,
    Shape,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

WindowPoint = Shape(
    "WindowPoint", "one window's estimated (and, once labelled, realized) performance",
    fields=(
        F("section", STRING, "which table of the report the result belongs to"),
        F("status", STATUS),
        F("window_start", TIMESTAMP, "the window's first instant (RFC 3339, Z) or day"),
        F("window_end", TIMESTAMP, "the instant after the window's last (RFC 3339, Z)"),
        F("rows", INTEGER),
        F("labelled_rows", INTEGER),
        F("metric", STRING),
        F("estimate", NUMBER, null=True),
        F("lower", NUMBER, null=True),
        F("upper", NUMBER, null=True),
        F("realized_value", NUMBER, null=True),
        F("error", NUMBER, null=True),
        F("why", STRING, "the reason for the status in words", null=True),
        F("reason", STRING, null=True),
        F("alerts", ARRAY),
        F("decided_by", OBJECT,
          "the check that set the status when it is not the measure's own threshold", null=True),
        F("decided_by_text", STRING, "decided_by in words", null=True),
        F("estimated", OBJECT, "keyed by metric"),
        F("realized", OBJECT, "keyed by metric", null=True),
        F("in_band", OBJECT, "keyed by metric", null=True),
        F("proxies", OBJECT, "keyed by proxy column"),
        F("proxy_means", ARRAY),
        F("contradicted", BOOLEAN, "the realised value lies beyond the band by more than one "
          "half-width more (concept drift)", optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("window_start", "window", 0),
        C("rows", "rows", 2),
        C("labelled_rows", "labelled", 2),
        C("estimate", "estimated", 0),
        C("lower", "band low", 1),
        C("upper", "band high", 1),
        C("realized_value", "realized", 1),
        C("proxy_means", "proxy means", 3, TEXT),
        C("why", "why", 2, TEXT),
    ),
    rows_of=(("estimate", "windows"),),
)


ProxyTrend = Shape(
    "ProxyTrend", "one proxy column's trend and its correlation with the label",
    fields=(
        F("section", STRING, "which table of the report the result belongs to"),
        F("status", STATUS),
        F("proxy", STRING),
        F("mean", NUMBER, null=True),
        F("reference_mean", NUMBER, null=True),
        F("diff", NUMBER, null=True),
        F("p_value", NUMBER, null=True),
        F("psi", NUMBER, null=True),
        F("corr_windows", NUMBER, null=True),
        F("windows_correlated", INTEGER),
        F("corr_rows", NUMBER, null=True),
        F("corr_label", NUMBER, null=True),
        F("labelled_rows", INTEGER),
        F("series", ARRAY),
        F("rank", INTEGER),
        F("reason", STRING, null=True, optional=True),
    ),
    columns=(
        C("status", "status", 0),
        C("rank", "rank", 2),
        C("proxy", "proxy", 0),
        C("mean", "latest mean", 1),
        C("reference_mean", "reference", 1),
        C("diff", "diff", 1),
        C("p_value", "p (Welch)", 2),
        C("psi", "PSI", 2),
        C("corr_windows", "corr windows", 3),
        C("corr_rows", "corr rows", 3),
        C("corr_label", "corr label", 2),
    ),
    rows_of=(("estimate", "proxies"),),
)


EstimateUnavailable = Shape(
    "EstimateUnavailable", "why no estimate could be made",
    fields=(
        F("status", STATUS),
        F("section", STRING, "which table of the report the result belongs to"),
        F("reason", STRING, null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("reason", "reason", 0, TEXT),
    ),
    rows_of=(("estimate", "estimate"),),
)
