"""The feature verdict: one column's distribution, joined values, drift, schema or proxy trend
(skew, drift, estimate proxies)."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

FeatureVerdict = Shape(
    "FeatureVerdict",
    "one column's verdict, reference against current: a feature's (or output's) distribution, "
    "its values joined by id, its drift over the windows, the exports' schema, a proxy's trend",
    fields=common("feature kind method score threshold status section decided_by "
                  "decided_by_text reason role p_test onset windows series "
                  "labelled_rows") + fields("""
        warn                   number?
        higher_is_worse        boolean         true when a larger score means more skew (every
            measure but p-value tests)
        reference              object
        current                object
        null_rate_change       number?         current minus reference share of null values (0 to
            1); null when a side has no rows
        out_of_range_share     number?         numeric: share of current values outside the
            reference's [min, max]; null when not computed
        summary                string
        bins                   integer         numeric: bins of the binned measure (psi, js, kl,
            chi_square)
        bin_edges              array           numeric: the inner bin edges, from reference
            quantiles
        log_base               integer|string  of the logarithm: 2 or "e"
        epsilon                number?         the smoothing added to empty bins before logarithms;
            null when none
        quality_alerts         array           data-quality checks beside the measure (null rate
            change, out of range, unseen categories): check, value, status, warn and threshold each
        histogram              object?         both sides' counts in the reference's bins, for
            charts
        unseen                 object          categorical: current rows whose category the
            reference never had (rows, share, levels, names)
        vanished               object          categorical: reference categories the current side
            no longer has (rows, share, levels, names)
        categories             integer         categorical: distinct categories compared
        buckets                integer         numeric: buckets of the reference's summary the
            score was computed over
        threshold_source       string          where the thresholds come from when not from the
            config (reference_chunks: mean + k·std of the reference's own chunks)
        measure_status         string          the status the measure alone would give, before
            data-quality alerts raised it
        statistic              number?         the test statistic (chi_square)
        dof                    integer?        degrees of freedom (chi_square)
        p_value                number?         the p-value of p_test (skew: of the two exports;
            drift: of the latest judged window; a proxy: Welch's t-test of its latest mean):
            reported, never deciding
        statistic_upper_bound  number?         ks: the exact statistic lies between score and this
        max_error              number?         ks, wasserstein: the exact value lies within this of
            the score
        fine_edges             integer?        ks, wasserstein: the fine reference-quantile cells'
            inner edges
        distance               number?         wasserstein: the unnormalised distance
        distance_lower_bound   number?         wasserstein: a proven lower bound of the distance
        distance_upper_bound   number?         wasserstein: a proven upper bound of the distance
        reference_std          number?         wasserstein: the reference std it is divided by
        change                 number?         null_rate_change: current minus reference null rate
        reference_null_rate    number?         null_rate_change: the reference's null rate
        current_null_rate      number?         null_rate_change: the current null rate
        below                  integer?        out_of_range: current values below the reference
            minimum
        above                  integer?        out_of_range: current values above the reference
            maximum
        reference_min          number?         out_of_range: the reference minimum
        reference_max          number?         out_of_range: the reference maximum
        p_value_adjusted       number?         chi_square: the p-value adjusted across features
            (BH)
        p_adjusted             number?         p_value adjusted with Benjamini-Hochberg across the
            checked columns (drift: of the latest judged window); reported, never deciding: at
            millions of rows p-values flag negligible shifts
        rows                   integer         transformation: joined rows
        either_null            integer         joined rows null on either side
        compared               integer         joined rows non-null on both sides
        mismatches             integer         compared rows whose values differ
        mismatch_rate          number?         mismatches / compared
        median_ratio           number?         median current / reference
        median_offset          number?         median current - reference
        samples                array           a few mismatched pairs
        hint                   string?         the transformation the mismatches look like (scaled,
            offset, rounded...); null when none
        missing                array           columns of the reference export that the current one
            lacks
        new                    array           columns of the current export that the reference
            lacks
        retyped                array           columns whose type differs: name, reference type,
            current type
        types_compared         boolean         whether column types were compared (false when a
            side's types are unknown)
        max_score              number?         the largest score over the judged windows; null when
            none was judged
        windows_judged         integer         windows with enough rows to be judged
        windows_crossed        integer         judged windows whose score crossed the failing
            threshold
        windows_insufficient   integer         windows with too few rows to judge (fewer than
            min_rows)
        proxy                  string
        mean                   number?         the proxy's mean in the latest window; null when it
            has no finite value
        reference_mean         number?         the proxy's mean on the reference; null when it has
            no finite value
        diff                   number?         mean minus reference_mean, in the proxy's unit
        psi                    number?         population stability index of the latest window's
            proxy against the reference
        corr_windows           number?         Pearson correlation of the proxy's window means with
            the realised metric over labelled windows; null with too few of them
        windows_correlated     integer         labelled windows that corr_windows was computed over
        corr_rows              number?         correlation of the proxy with the per-row error over
            labelled rows; null without labels
        corr_label             number?         correlation of the proxy with the label over
            labelled rows; null without labels
        rank                   integer
    """),
    columns=columns("""
        status@0, feature@0, kind@3, method@2, score@0, threshold=fail at,
        decided_by_text=decided by/text, quality_alerts=data quality@2/text,
        summary=reference → current@2/text, compared=joined rows@2, mismatch_rate=mismatch,
        median_ratio=median ratio, median_offset=median offset@2, hint=looks like/words,
        max_score=max@3, onset, windows_crossed=crossed@2, series=trend/spark, rank@2, proxy@0,
        mean=latest mean, reference_mean=reference, diff, p_value=p (Welch)@2, psi=PSI@2,
        corr_windows=corr windows@3, corr_rows=corr rows@3, corr_label=corr label@2
    """),
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
