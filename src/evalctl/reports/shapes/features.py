"""The feature verdict: one column's distribution, joined values, drift, schema or proxy trend
(skew, drift, estimate proxies)."""

from __future__ import annotations

from evalctl.reports.shape import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    OBJECT,
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

FeatureVerdict = Shape(
    "FeatureVerdict",
    "one column's verdict, reference against current: a feature's (or output's) distribution, "
    "its values joined by id, its drift over the windows, the exports' schema, a proxy's trend",
    fields=(
        *common("feature kind method score threshold status section decided_by decided_by_text "
                "reason role p_test onset windows series labelled_rows"),
        F("warn", NUMBER, null=True),
        F("higher_is_worse", BOOLEAN,
          "true when a larger score means more skew (every measure but p-value tests)"),
        F("reference", OBJECT),
        F("current", OBJECT),
        F("null_rate_change", NUMBER,
          "current minus reference share of null values (0 to 1); null when a side "
          "has no rows", null=True),
        F("out_of_range_share", NUMBER,
          "numeric: share of current values outside the reference's [min, max]; null "
          "when not computed", null=True),
        F("summary", STRING),
        F("bins", INTEGER, "numeric: bins of the binned measure (psi, js, kl, chi_square)"),
        F("bin_edges", ARRAY, "numeric: the inner bin edges, from reference quantiles"),
        F("log_base", (INTEGER, STRING), "of the logarithm: 2 or \"e\""),
        F("epsilon", NUMBER,
          "the smoothing added to empty bins before logarithms; null when none", null=True),
        F("quality_alerts", ARRAY,
          "data-quality checks beside the measure (null rate change, out of range, unseen "
          "categories): check, value, status, warn and threshold each"),
        F("histogram", OBJECT,
          "both sides' counts in the reference's bins, for charts", null=True),
        F("unseen", OBJECT,
          "categorical: current rows whose category the reference never had (rows, share, "
          "levels, names)"),
        F("vanished", OBJECT,
          "categorical: reference categories the current side no longer has (rows, share, "
          "levels, names)"),
        F("categories", INTEGER, "categorical: distinct categories compared"),
        F("buckets", INTEGER,
          "numeric: buckets of the reference's summary the score was computed over"),
        F("threshold_source", STRING,
          "where the thresholds come from when not from the config (reference_chunks: mean + "
          "k\u00b7std of the reference's own chunks)"),
        F("measure_status", STRING,
          "the status the measure alone would give, before data-quality alerts raised it"),
        F("statistic", NUMBER, "the test statistic (chi_square)", null=True),
        F("dof", INTEGER, "degrees of freedom (chi_square)", null=True),
        F("p_value", NUMBER,
          "the p-value of p_test (skew: of the two exports; drift: of the latest judged window; "
          "a proxy: Welch's t-test of its latest mean): reported, never deciding", null=True),
        F("statistic_upper_bound", NUMBER,
          "ks: the exact statistic lies between score and this", null=True),
        F("max_error", NUMBER,
          "ks, wasserstein: the exact value lies within this of the score", null=True),
        F("fine_edges", INTEGER,
          "ks, wasserstein: the fine reference-quantile cells' inner edges", null=True),
        F("distance", NUMBER, "wasserstein: the unnormalised distance", null=True),
        F("distance_lower_bound", NUMBER,
          "wasserstein: a proven lower bound of the distance", null=True),
        F("distance_upper_bound", NUMBER,
          "wasserstein: a proven upper bound of the distance", null=True),
        F("reference_std", NUMBER, "wasserstein: the reference std it is divided by", null=True),
        F("change", NUMBER, "null_rate_change: current minus reference null rate", null=True),
        F("reference_null_rate", NUMBER, "null_rate_change: the reference's null rate", null=True),
        F("current_null_rate", NUMBER, "null_rate_change: the current null rate", null=True),
        F("below", INTEGER, "out_of_range: current values below the reference minimum", null=True),
        F("above", INTEGER, "out_of_range: current values above the reference maximum", null=True),
        F("reference_min", NUMBER, "out_of_range: the reference minimum", null=True),
        F("reference_max", NUMBER, "out_of_range: the reference maximum", null=True),
        F("p_value_adjusted", NUMBER,
          "chi_square: the p-value adjusted across features (BH)", null=True),
        F("p_adjusted", NUMBER,
          "p_value adjusted with Benjamini-Hochberg across the checked columns (drift: of the "
          "latest judged window); reported, never deciding: at millions of rows p-values flag "
          "negligible shifts", null=True),
        F("rows", INTEGER, "transformation: joined rows"),
        F("either_null", INTEGER, "joined rows null on either side"),
        F("compared", INTEGER, "joined rows non-null on both sides"),
        F("mismatches", INTEGER, "compared rows whose values differ"),
        F("mismatch_rate", NUMBER, "mismatches / compared", null=True),
        F("median_ratio", NUMBER, "median current / reference", null=True),
        F("median_offset", NUMBER, "median current - reference", null=True),
        F("samples", ARRAY, "a few mismatched pairs"),
        F("hint", STRING,
          "the transformation the mismatches look like (scaled, offset, rounded...); "
          "null when none", null=True),
        F("missing", ARRAY, "columns of the reference export that the current one lacks"),
        F("new", ARRAY, "columns of the current export that the reference lacks"),
        F("retyped", ARRAY, "columns whose type differs: name, reference type, current type"),
        F("types_compared", BOOLEAN,
          "whether column types were compared (false when a side's types are unknown)"),
        F("max_score", NUMBER,
          "the largest score over the judged windows; null when none was judged", null=True),
        F("windows_judged", INTEGER, "windows with enough rows to be judged"),
        F("windows_crossed", INTEGER, "judged windows whose score crossed the failing threshold"),
        F("windows_insufficient", INTEGER,
          "windows with too few rows to judge (fewer than min_rows)"),
        F("proxy", STRING),
        F("mean", NUMBER,
          "the proxy's mean in the latest window; null when it has no finite value", null=True),
        F("reference_mean", NUMBER,
          "the proxy's mean on the reference; null when it has no finite value", null=True),
        F("diff", NUMBER, "mean minus reference_mean, in the proxy's unit", null=True),
        F("psi", NUMBER,
          "population stability index of the latest window's proxy against the "
          "reference", null=True),
        F("corr_windows", NUMBER,
          "Pearson correlation of the proxy's window means with the realised metric "
          "over labelled windows; null with too few of them", null=True),
        F("windows_correlated", INTEGER, "labelled windows that corr_windows was computed over"),
        F("corr_rows", NUMBER,
          "correlation of the proxy with the per-row error over labelled rows; null "
          "without labels", null=True),
        F("corr_label", NUMBER,
          "correlation of the proxy with the label over labelled rows; null without "
          "labels", null=True),
        F("rank", INTEGER),
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
        C("compared", "joined rows", 2),
        C("mismatch_rate", "mismatch", 1),
        C("median_ratio", "median ratio", 1),
        C("median_offset", "median offset", 2),
        C("hint", "looks like", 1, WORDS),
        C("max_score", "max", 3),
        C("onset", "onset", 1),
        C("windows_crossed", "crossed", 2),
        C("series", "trend", 1, SPARK),
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
    uses=(
        Use("skew", "distribution",
            "feature kind method score warn threshold higher_is_worse status reference current "
            "null_rate_change ?out_of_range_share summary ?bins ?bin_edges ?log_base ?epsilon "
            "section ?quality_alerts ?histogram ?decided_by ?decided_by_text ?unseen ?vanished "
            "?categories ?buckets ?threshold_source ?measure_status ?reason ?statistic ?dof "
            "?p_value ?statistic_upper_bound ?max_error ?fine_edges ?distance "
            "?distance_lower_bound ?distance_upper_bound ?reference_std ?change "
            "?reference_null_rate ?current_null_rate ?below ?above ?reference_min ?reference_max"
            " ?p_value_adjusted ?role ?p_test ?p_adjusted",
            "status, feature, kind, method, score, threshold, decided_by_text, quality_alerts, "
            "summary"),
        Use("skew", "transformation",
            "feature kind ?rows ?either_null ?compared ?mismatches ?mismatch_rate ?median_ratio "
            "?median_offset ?samples ?warn ?threshold score status section method hint ?reason",
            "status, feature, compared, mismatch_rate, median_ratio, median_offset, hint"),
        Use("skew", "schema",
            "section feature kind method status missing new retyped types_compared summary "
            "?reason",
            "status, summary=schema of the exports@0"),
        Use("drift", None,
            "feature kind status method threshold onset decided_by decided_by_text score "
            "max_score windows windows_judged windows_crossed windows_insufficient ?reason "
            "series ?role ?p_test ?p_value ?p_adjusted",
            "status, feature, method@3, score=latest, max_score, threshold@2, decided_by_text, "
            "onset, windows_crossed, series"),
        Use("estimate", "proxies",
            "section status proxy mean reference_mean diff p_value psi corr_windows "
            "windows_correlated corr_rows corr_label labelled_rows series rank ?reason",
            "status, rank, proxy, mean, reference_mean, diff, p_value, psi, corr_windows, "
            "corr_rows, corr_label"),
    ),
)
