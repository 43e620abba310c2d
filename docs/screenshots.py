"""`make screenshots`: the HTML report of every report type of the sample story, photographed
by headless Chromium (light theme; `--dark` for the dark one) into docs/screenshots/<type>.png.

    .venv/bin/python docs/screenshots.py [--dark] [--keep DIR]

Builds the story the tests use (sample_data/generate.py, seed 7, 600 rows a day, scale 0.5)
in a temporary folder, ingests it, runs each report with `-o <type>.html` at a fixed clock
and takes a 1200 x 1500 screenshot of the page's top. `--keep DIR` also keeps the pages.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers import CHROMIUM, STORY_CONFIG, STORY_INGESTS, STORY_PAGES  # noqa: E402

from evalctl.cli.app import run  # noqa: E402
from evalctl.clock import fixed_clock  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dark", action="store_true", help="the dark theme (-dark.png)")
    parser.add_argument("--keep", type=Path, help="also keep the HTML pages here")
    args = parser.parse_args()
    if not CHROMIUM.is_file():
        print(f"screenshots: {CHROMIUM} not found (apt-get install -y chromium)",
              file=sys.stderr)
        return 2
    out = REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evalctl-shots-") as folder:
        root = Path(folder)
        base = build_story(root)
        for day in range(24, 30):  # a week of monitor history before the monitor page
            evalctl(*base, "monitor", "--date", f"2026-11-{day}", "-f", "json")
        for name, command in STORY_PAGES:
            page = root / f"{name}.html"
            code = evalctl(*base, *command, "-o", str(page))
            if code not in (0, 1):
                print(f"screenshots: evalctl {name} exited {code}", file=sys.stderr)
                return 1
            shot = out / (f"{name}-dark.png" if args.dark else f"{name}.png")
            photograph(page, shot, root / f"profile-{name}", dark=args.dark)
            print(f"{shot.relative_to(REPO)}", file=sys.stderr)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(page, args.keep / page.name)
    return 0


def evalctl(*args: str, at: str = "2026-12-01T08:00:00Z") -> int:
    return run(list(args), stdout=io.StringIO(), stderr=sys.stderr, clock=fixed_clock(at))


def build_story(root: Path) -> list[str]:
    spec = importlib.util.spec_from_file_location("generate", REPO / "sample_data" / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    data = root / "data"
    generator.generate(data, seed=7, rows_per_day=600, scale=0.5, verbose=False)
    store = root / "store"
    base = ["--config", str(STORY_CONFIG), "--store", str(store)]
    assert evalctl("init", str(store), "--no-config") == 0
    for name, version, env in STORY_INGESTS:
        assert evalctl(*base, "ingest", str(data / name), "--model", "tv-recommender",
                       "--version", version, "--env", env) == 0
    assert evalctl(*base, "ingest-actuals", str(data / "actuals_late.csv"), "--model",
                   "tv-recommender") == 0
    return base


def photograph(page: Path, shot: Path, profile: Path, dark: bool) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--hide-scrollbars", "--window-size=1200,1500", "--force-device-scale-factor=1",
             f"--user-data-dir={profile}", f"--screenshot={shot}"]
    if dark:
        flags += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
    subprocess.run([str(CHROMIUM), *flags, page.as_uri()], capture_output=True, timeout=120,
                   check=True)


if __name__ == "__main__":
    sys.exit(main())
