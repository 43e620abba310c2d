"""The rca finding: the change, a feature's share of it, a segment behind it, an output's drift."""

from __future__ import annotations

from evalctl.reports.shape import (
    ANY,
    BOOLEAN,
    INTEGER,
    NUMBER,
    OBJECT,
    STRING,
    WORDS,
    Shape,
    Use,
    common,
)
from evalctl.reports.shape import Column as C
from evalctl.reports.shape import Field as F

Finding = Shape(
    "Finding",
    "one finding of rca: the metric's change, a feature's share of it, a segment behind it, an "
    "output's drift",
    fields=(
        *common("section feature metric baseline change ci_low ci_high ci_method status reason "
                "kind segment id predicates"),
        F("current", NUMBER, null=True),
        F("n_baseline", NUMBER, null=True),
        F("n_current", NUMBER, null=True),
        F("significant", BOOLEAN),
        F("lower_is_better", BOOLEAN,
          "whether a lower value of the metric is better (loss, error)"),
        F("measured", BOOLEAN, "whether both sides had enough labels to measure the metric"),
        F("direction", NUMBER, "sign of the change (-1, 0, 1); null when not measured", null=True),
        F("mode", STRING),
        F("finding", STRING),
        F("segments", INTEGER, "segments the feature was split into"),
        F("mix", NUMBER, null=True),
        F("performance", NUMBER, null=True),
        F("interaction", NUMBER, null=True),
        F("mix_share", NUMBER, "mix as a share of the change", null=True),
        F("performance_share", NUMBER, "performance as a share of the change", null=True),
        F("interaction_share", NUMBER, "interaction as a share of the change", null=True),
        F("top", OBJECT,
          "the segment that explains most of the feature's part (segment, id, "
          "predicates, shares); null when none", null=True),
        F("top_segment", STRING, "top's segment in words; null when none", null=True),
        F("drift_method", STRING),
        F("drift_score", NUMBER, null=True),
        F("drift_threshold", NUMBER, null=True),
        F("drift_status", STRING),
        F("drift_summary", STRING),
        F("drift_decided_by", ANY, null=True),
        F("drift_decided_by_text", ANY, null=True),
        F("skew_baseline_score", NUMBER, null=True),
        F("skew_baseline_status", STRING),
        F("skew_current_score", NUMBER, null=True),
        F("skew_current_status", STRING),
        F("reference", STRING, null=True),
        F("explained_pct", NUMBER, null=True),
        F("moved_with", STRING,
          "co_shift: the segment of the population shift this feature moved with"),
        F("drift_outside_score", NUMBER,
          "co_shift: the feature's drift outside that segment", null=True),
        F("estimated_mix", NUMBER,
          "without current labels: the change the mix shift alone would make (estimate)",
          null=True),
        F("joint_importance", NUMBER,
          "rca --multivariate: the feature's permutation importance in the classifier telling "
          "the windows apart", null=True),
        F("joint_rank", INTEGER, "rca --multivariate: its rank by joint importance", null=True),
        F("effect", STRING,
          "what the segment contributes: mix (its share moved), performance (its metric moved) "
          "or both"),
        F("where", ANY,
          "the segment as a filter when no id names it (export --where takes it); null when "
          "id does", null=True),
        F("rows_share_baseline", NUMBER, "the segment's share of the baseline's rows", null=True),
        F("rows_share_current", NUMBER, "the segment's share of the current rows", null=True),
        F("metric_baseline", NUMBER,
          "the metric in the segment, baseline; null without labels", null=True),
        F("rest_baseline", NUMBER,
          "the metric outside the segment, baseline; null without labels", null=True),
        F("metric_current", NUMBER,
          "the metric in the segment, current; null without labels", null=True),
        F("rest_current", NUMBER,
          "the metric outside the segment, current; null without labels", null=True),
        F("share_baseline", NUMBER,
          "the segment's share of the baseline's labelled rows", null=True),
        F("share_current", NUMBER, "the segment's share of the current labelled rows", null=True),
    ),
    columns=(
        C("status", "status", 0),
        C("metric", "metric", 0),
        C("baseline", "baseline", 0),
        C("current", "current", 0),
        C("change", "change", 0),
        C("ci_low", "CI low", 2),
        C("ci_high", "CI high", 2),
        C("n_baseline", "labelled before", 3),
        C("n_current", "labelled after", 3),
        C("mode", "verdict", 1),
        C("feature", "feature", 0),
        C("explained_pct", "mix explains %", 1),
        C("mix", "mix", 2),
        C("performance", "performance", 2),
        C("interaction", "interaction", 3),
        C("drift_score", "drift", 2),
        C("skew_baseline_score", "vs ref before", 3),
        C("skew_current_score", "vs ref after", 3),
        C("top_segment", "top segment", 2, WORDS),
        C("joint_importance", "joint importance", 2),
        C("effect", "effect", 2),
        C("segment", "segment", 0, WORDS),
        C("share_baseline", "share before", 2),
        C("share_current", "share after", 1),
        C("metric_baseline", "metric there", 1),
        C("rest_baseline", "elsewhere", 3),
        C("metric_current", "there after", 2),
        C("id", "segment id", 3),
        C("drift_method", "method", 3),
    ),
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
