"""The window point: one window's estimate (estimate) or two-sample test (drift --multivariate)."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

WindowPoint = Shape(
    "WindowPoint",
    "one window's result: its estimated (and, once labelled, realized) performance, or its "
    "classifier two-sample test",
    fields=common("section status labelled_rows reason decided_by decided_by_text "
                  "ci_high") + fields("""
        window_start    timestamp  the window's first instant (RFC 3339, Z) or day
        window_end      timestamp
        rows            integer    rows in the window
        metric          string     the estimated metric of this row (one row per window and
            metric); the summary's metric is the headline, whose row has the window's status
        estimated       number?    the metric estimated without labels; null when it cannot be
            estimated (reason)
        lower           number?    the estimate's band (inputs.confidence), lower end
        upper           number?    the estimate's band, upper end
        se              number?    the estimate's standard error
        realized        number?    the metric on the window's labelled rows; null before labels
            arrive
        error           number?    estimated minus realized; null without labels
        in_band         boolean?   whether realized lies in [lower, upper]; null without labels or
            band
        why             string?    on the headline metric's row the window's status in words (its
            first alert, +N more); on another metric's row that metric's own status in words (its
            alert, or why it was not judged); null when there is none
        alerts          array      every reason behind the window's status, in words, failures
            first
        proxies         object     per proxy column: its mean, rows, reference mean, difference,
            Welch test, PSI and status in the window
        proxy_means     array      each proxy column's mean in the window, in the order of
            inputs.proxies
        contradicted    boolean    the window's realised headline metric lies beyond its band by
            more than one half-width more (concept drift)
        rows_reference  integer    sampled reference rows
        rows_window     integer    sampled window rows
        auroc           number?    cross-fitted out-of-fold AUROC; 0.5 = no drift; null when
            insufficient
        ci_low          number?    DeLong interval
        p_value         number?    one-sided Mann-Whitney p-value against AUROC 0.5
        threshold       number?    the AUROC from which a significant window fails
        top_features    string?    the most important features in words
        importance      array      permutation importance: mean held-out AUROC drop when the
            feature is shuffled, largest first; empty when the window is not significant
    """),
    columns=columns("""
        status@0, window_start=window@0, rows@2, labelled_rows=labelled@2, metric@0, estimated@0,
        lower=band low, upper=band high, realized, in_band=in band@3, why@2/text, auroc@0,
        ci_low=CI low@2, ci_high=CI high@2, p_value=p, threshold=fail at@3,
        top_features=driven by/text, reason=note@2/text
    """),
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
