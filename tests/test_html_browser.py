"""Issue #17 in a real browser: headless Chromium (Debian's `chromium`) opens every report type
of the sample story from a file:// URL with the network cut off, logs nothing to its console,
requests nothing, holds one `<svg>` per chart in its rendered DOM (one per feature for skew
and drift), and its screenshot shows the charts drawn.

Marked `browser`: not part of `make test`; `make test-browser` runs them (`.ci/run` does, after
installing chromium when it is missing). Without /usr/bin/chromium they fail, never skip.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import (
    CHROMIUM,
    STORY_CONFIG,
    STORY_PAGES,
    CliResult,
    load_in_chromium,
    parse_page,
    read_png,
)

from evalctl.cli.app import run
from evalctl.clock import fixed_clock

pytestmark = pytest.mark.browser

# the charts' colours in the light theme (render/html.py CSS): current, reference, fail,
# warn, pass
PALETTE = {"cur": (47, 111, 223), "ref": (141, 153, 166), "fail": (198, 40, 40),
           "warn": (168, 98, 0), "pass": (46, 125, 50)}


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(apt-get install -y chromium)", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="module")
def story_pages(story: Callable[..., CliResult], tmp_path_factory: pytest.TempPathFactory
                ) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("browser")
    store = root / "store"
    shutil.copytree(story.store, store)  # type: ignore[attr-defined]
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    pages = {}
    for name, args in STORY_PAGES:
        page = root / f"{name}.html"
        out, err = io.StringIO(), io.StringIO()
        code = run([*base, *args, "-o", str(page)], stdout=out, stderr=err,
                   clock=fixed_clock("2026-12-01T08:00:00Z"))
        assert code in (0, 1), err.getvalue()
        pages[name] = page
    return pages


def _near(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    """Pixels within `tolerance` of `colour` on every channel."""
    diff = np.abs(image[..., :3].astype(np.int32) - np.asarray(colour))
    return int((diff <= tolerance).all(axis=-1).sum())


def test_the_harness_sees_errors_requests_and_pixels(chromium: Path, tmp_path: Path) -> None:
    """The checks below can fail: a script error and a remote image are caught, and the PNG
    reader gets exact colours back from Chromium's screenshot."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><img src="https://example.com/a.png">'
                   "<script>notDefined();</script></body></html>")
    loaded = load_in_chromium(bad, tmp_path / "bad")
    assert any("notDefined" in line for line in loaded.console)
    assert "https://example.com/a.png" in loaded.requests
    calibration = tmp_path / "calibration.html"
    calibration.write_text(
        "<!DOCTYPE html><html><body style='margin:0'><div style='height:300px;"
        "background:rgb(200,30,60)'></div><div style='height:300px;"
        "background:linear-gradient(90deg,rgb(10,120,250),rgb(250,120,10))'></div>"
        "<div style='height:400px;background:rgb(10,120,250)'></div></body></html>")
    image = read_png(load_in_chromium(calibration, tmp_path / "cal").screenshot)
    assert image.shape[:2] == (1000, 900)
    assert (image[:300, :, :3] == (200, 30, 60)).all()
    assert (image[600:, :, :3] == (10, 120, 250)).all()
    gradient = image[450, :, 0].astype(int)  # a ramp (dithered by a step) decodes as one
    assert (np.abs(gradient - np.linspace(10, 250, 900)) <= 3).all()


@pytest.mark.parametrize("name", [name for name, _ in STORY_PAGES])
def test_every_report_type_loads_offline_and_draws(chromium: Path, story_pages, name: str,
                                                   tmp_path: Path) -> None:
    page = story_pages[name]
    source = parse_page(page.read_text())
    loaded = load_in_chromium(page, tmp_path, height=1800)
    assert loaded.console == []
    assert loaded.requests == []
    # the rendered DOM holds every chart (one per feature for skew and drift)
    assert loaded.dom.count("<svg") == len(source.svg_titles) > 0
    if name in ("skew", "drift"):
        features = [r for r in source.envelope["results"]
                    if r.get("section") in (None, "distribution")]
        assert loaded.dom.count("<svg") == len(features)
    image = read_png(loaded.screenshot)
    assert image.shape[:2] == (1800, 900)
    counts = {key: _near(image, colour) for key, colour in PALETTE.items()}
    drawn = {key for key, count in counts.items() if count > 150}
    assert len(drawn) >= 2, counts
    assert sum(counts.values()) > 0.003 * image.shape[0] * image.shape[1], counts
    if name in ("skew", "drift", "estimate", "report"):
        assert counts["cur"] > 1000, counts  # the first chart's bars or line are drawn
