"""The rca finding: the change, a feature's share of it, a segment behind it, an output's drift."""

from __future__ import annotations

from evalctl.reports.shape import (
    Shape,
    Use,
    columns,
    common,
    fields,
)

Finding = Shape(
    "Finding",
    "one finding of rca: the metric's change, a feature's share of it, a segment behind it, an "
    "output's drift",
    fields=common("section feature metric baseline change ci_low ci_high ci_method "
                  "status reason kind segment id predicates") + fields("""
        current                number?
        n_baseline             number?
        n_current              number?
        significant            boolean
        lower_is_better        boolean   whether a lower value of the metric is better (loss,
            error)
        measured               boolean   whether both sides had enough labels to measure the metric
        direction              number?   sign of the change (-1, 0, 1); null when not measured
        mode                   string
        finding                string
        segments               integer   segments the feature was split into
        mix                    number?
        performance            number?
        interaction            number?
        mix_share              number?   mix as a share of the change
        performance_share      number?   performance as a share of the change
        interaction_share      number?   interaction as a share of the change
        top                    object?   the segment that explains most of the feature's part
            (segment, id, predicates, shares); null when none
        top_segment            string?   top's segment in words; null when none
        drift_method           string
        drift_score            number?
        drift_threshold        number?
        drift_status           string
        drift_summary          string
        drift_decided_by       any?
        drift_decided_by_text  any?
        skew_baseline_score    number?
        skew_baseline_status   string
        skew_current_score     number?
        skew_current_status    string
        reference              string?
        explained_pct          number?
        moved_with             string    co_shift: the segment of the population shift this feature
            moved with
        drift_outside_score    number?   co_shift: the feature's drift outside that segment
        estimated_mix          number?   without current labels: the change the mix shift alone
            would make (estimate)
        joint_importance       number?   rca --multivariate: the feature's permutation importance
            in the classifier telling the windows apart
        joint_rank             integer?  rca --multivariate: its rank by joint importance
        effect                 string    what the segment contributes: mix (its share moved),
            performance (its metric moved) or both
        where                  any?      the segment as a filter when no id names it (export
            --where takes it); null when id does
        rows_share_baseline    number?   the segment's share of the baseline's rows
        rows_share_current     number?   the segment's share of the current rows
        metric_baseline        number?   the metric in the segment, baseline; null without labels
        rest_baseline          number?   the metric outside the segment, baseline; null without
            labels
        metric_current         number?   the metric in the segment, current; null without labels
        rest_current           number?   the metric outside the segment, current; null without
            labels
        share_baseline         number?   the segment's share of the baseline's labelled rows
        share_current          number?   the segment's share of the current labelled rows
    """),
    columns=columns("""
        status@0, metric@0, baseline@0, current@0, change@0, ci_low=CI low@2, ci_high=CI high@2,
        n_baseline=labelled before@3, n_current=labelled after@3, mode=verdict, feature@0,
        explained_pct=mix explains %, mix@2, performance@2, interaction@3, drift_score=drift@2,
        skew_baseline_score=vs ref before@3, skew_current_score=vs ref after@3,
        top_segment=top segment@2/words, joint_importance=joint importance@2, effect@2,
        segment@0/words, share_baseline=share before@2, share_current=share after,
        metric_baseline=metric there, rest_baseline=elsewhere@3, metric_current=there after@2,
        id=segment id@3, drift_method=method@3
    """),
    uses=(
        Use("rca", "change",
            "section feature metric baseline current change ci_low ci_high ci_method n_baseline "
            "n_current significant lower_is_better status measured ?direction mode finding "
            "?reason",
            "status, metric, baseline, current, change, ci_low, ci_high, n_baseline, n_current, "
            "mode"),
        Use("rca", "causes",
            "section feature kind segments ?mix ?performance ?interaction ?mix_share "
            "?performance_share ?interaction_share top top_segment drift_method drift_score "
            "drift_threshold drift_status drift_summary drift_decided_by drift_decided_by_text "
            "?skew_baseline_score ?skew_baseline_status ?skew_current_score ?skew_current_status"
            " reference mode status finding explained_pct ?moved_with ?drift_outside_score "
            "?estimated_mix ?reason ?joint_importance ?joint_rank",
            "status, feature, mode=finding@0, explained_pct, mix, performance, interaction, "
            "drift_score, skew_baseline_score, skew_current_score, top_segment, joint_importance"),
        Use("rca", "segments",
            "section effect feature segment id where predicates rows_share_baseline "
            "rows_share_current n_baseline n_current metric_baseline rest_baseline "
            "metric_current rest_current share_baseline share_current ?mix ?performance "
            "?interaction status finding explained_pct ?estimated_mix ?reason",
            "status, effect, segment, share_baseline, share_current, metric_baseline, "
            "rest_baseline, metric_current, explained_pct=explains %, id"),
        Use("rca", "outputs",
            "section feature kind drift_method drift_score drift_threshold drift_status "
            "drift_summary drift_decided_by drift_decided_by_text ?skew_baseline_score "
            "?skew_baseline_status ?skew_current_score ?skew_current_status status mode finding "
            "?reason",
            "status, feature=output, drift_method, drift_score@1, skew_baseline_score@2, "
            "skew_current_score@2, mode=finding"),
    ),
)
