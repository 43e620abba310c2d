"""Issue #17: `--format html` for every report command and `evalctl report`.

Structure per command on the sample story (every section, one chart per feature), the
embedded JSON equal to `-f json` apart from `generated_at`, self-containment (nothing
referenced by src / href / url()), the size budget on a 60-feature store, escaping, and the
histogram counts skew now reports (against numpy on data with ties, nulls and unseen levels).
Browser checks (headless Chromium) are in test_html_browser.py.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.helpers import (
    REPO,
    STORY_CONFIG,
    STORY_PAGES,
    CliResult,
    make_frame,
    parse_page,
    run_cli,
    shaped,
    validate_envelope,
    wide_config,
    wide_frame,
)

from evalctl.cli.app import run
from evalctl.clock import fixed_clock
from evalctl.render import svg
from evalctl.render.cells import format_cell

NOW = "2026-12-01T08:00:00Z"
# anything that would make the browser fetch: a src/href/url() to http(s) or protocol-relative
REMOTE = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?\s*|url\(\s*["']?\s*)(?:https?:|//)""",
                    re.IGNORECASE)


@pytest.fixture(scope="module")
def pages(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, tuple[str, dict]]:
    """Every report type of the story as (HTML page, JSON report), on a private copy of the
    store (monitor writes history) at a fixed clock."""
    import json

    root = tmp_path_factory.mktemp("html")
    store = root / "store"
    shutil.copytree(story.store, store)  # type: ignore[attr-defined]
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    out: dict[str, tuple[str, dict]] = {}
    for name, args in STORY_PAGES:
        page = root / f"{name}.html"
        html = _run(*base, *args, "-o", str(page))
        doc = _run(*base, *args, "-f", "json")
        assert html.code == doc.code and html.code in (0, 1), (name, html.stderr)
        assert html.stdout == ""
        out[name] = (page.read_text(encoding="utf-8"), json.loads(doc.stdout))
    return out


def _run(*args: str) -> CliResult:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(list(args), stdout=stdout, stderr=stderr, clock=fixed_clock(NOW))
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


@pytest.mark.parametrize("name", [name for name, _ in STORY_PAGES])
def test_page_embeds_the_json_report_and_shows_every_section(pages, name: str) -> None:
    text, doc = pages[name]
    page = parse_page(text)
    embedded = dict(page.envelope)
    validate_envelope(embedded)
    if name == "monitor":  # the JSON run, second on the same window, raises no alert anew
        assert embedded["summary"].pop("new_alerts") > 0 == doc["summary"].pop("new_alerts")
    assert {k: v for k, v in embedded.items() if k != "generated_at"} == \
        {k: v for k, v in doc.items() if k != "generated_at"}
    assert text.startswith("<!DOCTYPE html>") and page.scripts == 2
    assert page.svg_titles and all(t.strip() for t in page.svg_titles)
    assert text.count("<svg") == len(page.svg_titles)  # a <title> in every chart
    sections = {r.get("section") or "results" for r in doc["results"]}
    if name != "report":
        assert sections <= set(page.ids), sections - set(page.ids)
    # the header says what was compared and the status, in words
    assert f'class="badge {doc["status"]}">{doc["status"].upper()}<' in text
    for side in ("reference", "current", "selection"):
        if isinstance(doc["inputs"].get(side), dict):
            assert doc["inputs"][side]["selector"] in text
    for rec in doc["recommendations"]:
        assert _escaped(rec) in text


def _escaped(text: str) -> str:
    from html import escape

    return escape(text)


def test_skew_and_drift_chart_every_feature(pages) -> None:
    for name in ("skew", "drift"):
        text, doc = pages[name]
        page = parse_page(text)
        features = [r["feature"] for r in doc["results"]
                    if r.get("section") in (None, "distribution")]
        assert len(features) >= 9
        assert len(page.svg_titles) == len(features)
        for feature in features:
            assert sum(t.startswith(f"{feature}:") for t in page.svg_titles) == 1, feature


def test_charts_follow_the_result_kind(pages) -> None:
    """Segment leaderboards, forest plot, waterfall, band and timeline each appear where
    their kind of result does."""
    def titles(name: str) -> list[str]:
        return parse_page(pages[name][0]).svg_titles

    assert any("per segment" in t for t in titles("slices"))
    text, doc = pages["slices"]  # each leaderboard against its own overall value
    assert f">overall {format_cell(doc['summary']['overall'])}<" in text
    assert f">overall {format_cell(doc['inputs']['discovery']['mean_error'])}<" in text
    assert {t.split(" ")[0] for t in titles("validate")} == {"accuracy", "roc_auc", "log_loss"}
    assert any("forest plot" in t for t in titles("compare"))
    assert any("mix, performance, interaction" in t for t in titles("rca"))
    assert any("with its band" in t for t in titles("estimate"))
    for name in ("monitor", "history"):
        assert any("status of each check" in t for t in titles(name))


def test_health_report_has_contents_and_every_part(pages) -> None:
    text, doc = pages["report"]
    page = parse_page(text)
    parts = [r["part"] for r in doc["results"]]
    assert sorted(parts) == ["drift", "estimate", "monitor", "skew", "slices"]
    assert '<nav class="toc">' in text
    for part in parts:
        assert f'href="#part-{part}"' in text and f"part-{part}" in page.ids
    for result in doc["results"]:
        validate_envelope(result["report"])  # each part is its command's own report
    skew = next(r["report"] for r in doc["results"] if r["part"] == "skew")
    histograms = [r for r in skew["results"] if r.get("section") == "distribution"]
    drift = next(r["report"] for r in doc["results"] if r["part"] == "drift")
    assert len(page.svg_titles) >= len(histograms) + len(drift["results"]) + 2


def test_health_report_says_why_a_part_is_missing(story, tmp_path: Path) -> None:
    """No monitor run yet: the part is `insufficient` with the reason; the rest goes on."""
    store = tmp_path / "store"
    shutil.copytree(story.store, store)
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    result = _run(*base, "report", "-m", "tv-recommender", "--current",
                  "production@2026-11-15..2026-11-30", "-o", str(tmp_path / "h.html"))
    assert result.code == 1, result.stderr
    page = parse_page((tmp_path / "h.html").read_text())
    monitor = next(r for r in page.envelope["results"] if r["part"] == "monitor")
    assert monitor["status"] == "insufficient" and monitor["report"] is None
    assert "run `evalctl monitor` first" in monitor["reason"]
    assert "run `evalctl monitor` first" in page.text


@pytest.mark.parametrize("name", [name for name, _ in STORY_PAGES])
def test_page_references_nothing_outside_itself(pages, name: str) -> None:
    text, _ = pages[name]
    page = parse_page(text)
    assert not REMOTE.search(text)
    assert not [r for r in page.references if not r.startswith("#")]
    assert not {"link", "img", "iframe", "object", "embed"} & set(page.tags)
    assert "@import" not in text and "@font-face" not in text
    scripts = re.findall(r"<script([^>]*)>", text)
    assert all("src" not in attrs for attrs in scripts)


def test_the_remote_pattern_catches_references() -> None:
    for bad in ('<img src="https://x/y.png">', "<a href='//cdn.x/y'>", "url(http://x/f.woff)",
                'src = "http://x"'):
        assert REMOTE.search(bad), bad
    assert not REMOTE.search('<a href="#part-skew">') and not REMOTE.search("url(#clip)")


def test_page_is_sortable_but_complete_without_javascript(pages) -> None:
    text, doc = pages["skew"]
    body = re.sub(r"<script.*?</script>", "", text, flags=re.S)
    for row in doc["results"]:
        if row["section"] == "distribution":
            assert _escaped(row["feature"]) in body
    assert "table.sortable" in text and len(re.findall(r"<script>", text)) == 1


def test_themes_print_and_status_in_words(pages) -> None:
    text, page = pages["drift"]
    assert "@media (prefers-color-scheme:dark)" in text and "@media print" in text
    shown = {r["status"].upper() for r in page["results"]}
    assert {"FAIL", "PASS"} <= shown
    for status in shown:
        assert f">{status}</span>" in text
    # drift's charts: the fail line labelled in words, the onset marked and named
    assert re.search(r">fail 0\.\d+<", text) and ">onset 2026-11-" in text


def test_html_to_stdout_and_format_clashes(story) -> None:
    args = ("skew", "-m", "tv-recommender", "--current", "production@2026-11-15..2026-11-30")
    result = story(*args, "-f", "html")
    assert result.code == 1 and result.stdout.startswith("<!DOCTYPE html>")
    clash = story(*args, "-f", "html", "-o", "x.json")
    assert clash.code == 2 and "contradicts" in clash.stderr


# -- size budget and escaping on a store of our own ---------------------------------------------
def _wide_store(root: Path, features: int, shift: float = 0.3) -> list[str]:
    reference = wide_frame(5000, features, seed=1, prefix="t")
    current = wide_frame(5000, features, seed=2, shift=shift, prefix="p")
    (root / "evalctl.yaml").write_text(wide_config(reference))
    reference.write_parquet(root / "t.parquet")
    current.write_parquet(root / "p.parquet")
    base = ["--config", str(root / "evalctl.yaml"), "--store", str(root / "store")]
    assert run_cli("init", str(root / "store"), "--no-config").code == 0
    for env, name in (("training", "t"), ("production", "p")):
        result = run_cli(*base, "ingest", str(root / f"{name}.parquet"), "-m", "wide",
                         "--version", "v1", "--env", env)
        assert result.code == 0, result.stderr
    return base


def test_a_60_feature_skew_report_stays_under_500_kb(tmp_path: Path) -> None:
    base = _wide_store(tmp_path, 60)
    page = tmp_path / "skew.html"
    result = run_cli(*base, "skew", "-m", "wide", "--current", "production", "-o", str(page))
    assert result.code in (0, 1), result.stderr
    parsed = parse_page(page.read_text())
    features = [r for r in parsed.envelope["results"] if r.get("section") == "distribution"]
    assert len(features) == 62  # 60 features, score and predicted_label
    assert len(parsed.svg_titles) == 62
    size = page.stat().st_size
    assert size <= 500_000, f"{size:,} bytes"


def test_names_are_escaped_everywhere(cli: Callable[..., CliResult], workdir: Path) -> None:
    """A feature named `</script><script>alert(1)</script>` stays text: in the tables, the
    charts' titles and the embedded JSON (whose `</` is escaped)."""
    evil = "</script><script>alert(1)</script>"
    frame = make_frame(400, seed=3).rename({"country": evil})
    current = make_frame(400, seed=4, prefix="p").rename({"country": evil})
    frame.write_parquet(workdir / "t.parquet")
    current.write_parquet(workdir / "p.parquet")
    config = (workdir / "evalctl.yaml").read_text().replace(
        "country: categorical", f"'{evil}': categorical").replace(
        "      - feature: country\n", "")
    (workdir / "evalctl.yaml").write_text(config)
    for env, name in (("training", "t"), ("production", "p")):
        assert cli("ingest", str(workdir / f"{name}.parquet"), "-m", "churn", "--version",
                   "v1", "--env", env).code == 0
    result = cli("skew", "-m", "churn", "--current", "production", "-f", "html")
    assert result.code in (0, 1), result.stderr
    assert "alert(1)" in result.stdout and "<script>alert" not in result.stdout
    page = parse_page(result.stdout)
    assert page.scripts == 2
    assert any(t.startswith(evil + ":") for t in page.svg_titles)
    assert any(r["feature"] == evil for r in page.envelope["results"])


# -- the histogram skew reports -----------------------------------------------------------------
def test_skew_histograms_count_both_sides_in_the_reference_bins(
        cli: Callable[..., CliResult], workdir: Path) -> None:
    """Against numpy: numeric counts in the right-closed reference bins (ties at the edges,
    nulls left out, values beyond the reference in the open end bins); categorical counts per
    top category, then known-but-not-top (other) and never-seen (unseen)."""
    rng = np.random.default_rng(11)
    reference = make_frame(3000, seed=5, prefix="t").with_columns(
        pl.Series("minutes", rng.integers(0, 40, 3000).astype(float)))  # many ties
    current = make_frame(2000, seed=6, prefix="p").with_columns(
        pl.Series("minutes", np.where(rng.random(2000) < 0.1, np.nan,
                                      rng.integers(-5, 60, 2000).astype(float))).fill_nan(None),
        pl.Series("country", rng.choice(["US", "BR", "DE", "ZZ", "YY"], 2000)))
    reference.write_parquet(workdir / "t.parquet")
    current.write_parquet(workdir / "p.parquet")
    for env, name in (("training", "t"), ("production", "p")):
        assert cli("ingest", str(workdir / f"{name}.parquet"), "-m", "churn", "--version",
                   "v1", "--env", env).code == 0
    doc = cli("skew", "-m", "churn", "--current", "production", "-f", "json").json()
    rows = {r["feature"]: r for r in doc["results"] if r.get("section") == "distribution"}

    for column in ("minutes", "age", "score"):
        hist = rows[column]["histogram"]
        edges = np.asarray(hist["edges"])
        if "bin_edges" in rows[column]:  # the PSI-family measures report their bins too
            assert np.array_equal(edges, rows[column]["bin_edges"])
        for side, frame in (("reference", reference), ("current", current)):
            values = frame[column].drop_nulls().to_numpy()
            values = values[np.isfinite(values)]
            expected = np.bincount(np.searchsorted(edges, values, side="left"),
                                   minlength=len(edges) + 1)
            assert hist[side] == expected.tolist(), (column, side)
    hist = rows["country"]["histogram"]
    top = hist["labels"][:-2]
    assert hist["labels"][-2:] == ["(other)", "(unseen)"]
    for side, frame in (("reference", reference), ("current", current)):
        counts = frame["country"].value_counts()
        by_name = dict(zip(counts["country"].to_list(), counts["count"].to_list(), strict=True))
        known = set(reference["country"].to_list())
        expected = [by_name.get(level, 0) for level in top]
        expected.append(sum(c for v, c in by_name.items() if v in known and v not in top))
        expected.append(sum(c for v, c in by_name.items() if v not in known))
        assert hist[side] == expected, side
    assert hist["current"][-1] > 0  # ZZ and YY were never seen


# -- chart primitives -------------------------------------------------------------------------
@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (0.0, 8.3), (-0.15, 0.05),
                                           (0.7354, 0.8129), (3.0, 3.0000001)])
def test_ticks_are_round_and_cover_the_range(low: float, high: float) -> None:
    ticks = svg.nice_ticks(low, high)
    assert 2 <= len(ticks) <= 12
    step = ticks[1] - ticks[0]
    assert ticks[0] >= low - 1e-12 and ticks[0] - step < low
    assert ticks[-1] <= high + 1e-12 and ticks[-1] + step > high
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5, 10))


def test_chart_primitives_draw_status_by_shape_and_escape_text() -> None:
    points = [svg.Point("a<b", 0.1, "pass"), svg.Point("b", None, "pass"),
              svg.Point("c", 0.4, "warn"), svg.Point("d", 0.9, "fail")]
    chart = svg.series_chart("x & <y>", points, warn=0.3, fail=0.5, onset=2)
    assert chart.startswith('<svg') and "<title>x &amp; &lt;y&gt;</title>" in chart
    assert "a&lt;b" in chart and "a<b" not in chart
    assert chart.count('<rect class="mark fail"') == 1 and chart.count("mark warn") == 1
    assert chart.count('<circle class="mark pass"') == 1  # the missing window is a gap
    assert ">warn 0.3<" in chart and ">fail 0.5<" in chart and ">onset c<" in chart
    bars = svg.histogram_overlay("h", ["x", "y"], [3, 1], [0, 4])
    assert bars.count('class="ref"') == 2 + 1 and bars.count('class="cur"') == 2 + 1
    assert "x · reference: 3 (75.0%)" in bars and "y · current: 4 (100.0%)" in bars
    rows = [svg.Interval("s1", 0.5, 0.4, 0.6, "fail", other=0.7), svg.Interval("s2", None)]
    forest = svg.interval_chart("f", rows, reference=0.0, reference_label="no difference")
    assert ">no difference 0<" in forest and "0.5 fail" in forest and "hollow" in forest
    fall = svg.waterfall("w", ("before", 0.8), [("mix", -0.05), ("performance", 0.01)],
                         ("after", 0.76))
    assert "mix: -0.05" in fall and 'class="wf down"' in fall and 'class="wf up"' in fall
    grid = svg.timeline("t", ["d1", "d2"], [("drift · age", ["fail", None])])
    assert grid.count('class="cell fail"') == 1 and ">F<" in grid


def test_readme_shows_a_screenshot_of_each_report_type() -> None:
    readme = (REPO / "README.md").read_text()
    for name, _ in STORY_PAGES:
        shot = REPO / "docs" / "screenshots" / f"{name}.png"
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"docs/screenshots/{name}.png" in readme, name


def test_a_histogram_draws_the_top_categories_and_folds_the_rest_into_other() -> None:
    """30 reference categories: the chart shows the 15 most frequent, `(other)` holding the
    other 15 with the reference's own `(other)`, and `(unseen)`; the JSON keeps all 32."""
    from evalctl.render import render_html
    from evalctl.reports import Report

    labels = [f"k{i}" for i in range(30)] + ["(other)", "(unseen)"]
    reference = list(range(300, 0, -10)) + [7, 0]
    current = list(range(30, 0, -1)) + [5, 9]
    row = {"section": "distribution", "feature": "city", "kind": "categorical",
           "method": "jensen_shannon", "score": 0.1, "threshold": 0.2, "status": "pass",
           "histogram": {"labels": labels, "reference": reference, "current": current}}
    page = parse_page(render_html(Report("skew", "m", "pass", results=[shaped("skew", row)])))
    (title,) = page.svg_titles
    assert title.startswith("city: reference vs current")
    for side in ("ref", "cur"):  # 17 bars and the legend's swatch
        assert page.text.count(f'<rect class="{side}"') == 17 + 1
    other_ref = sum(reference[15:30]) + 7
    assert f"(other) · reference: {other_ref:,} ({other_ref / sum(reference):.1%})" in page.text
    assert "(unseen) · current: 9 (" in page.text and "k14 · current" in page.text
    assert "k15 · current" not in page.text
    assert page.envelope["results"][0]["histogram"]["labels"] == labels
