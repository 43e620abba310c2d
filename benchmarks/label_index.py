"""Label-index memory benchmark: peak RSS of an actuals ingest, whose label index
(`lake/labels.py`) semi-joins every stored prediction id against the batch's ids.

One store holds N prediction rows (ids r0..r{N-1} over 30 days); the export 1.02 N actuals:
90% of those ids (shuffled, 2% of them twice), 10% ids no prediction has. Each run copies the
store and runs `evalctl ingest-actuals` in a child process (the command's allocator options),
reporting wall and CPU time and peak RSS (VmHWM). `--old FILE` runs the same ingest a second
way, with `lake/labels.py`'s `index_actuals` taken from FILE (e.g. an older release's
`git show <commit>:src/evalctl/lake/labels.py`), alternating the ways `--repeat` times
(`--pass-rows N...`: the new code with `LABEL_PASS_ROWS` set to each N, too). A
second pair of rows times `index_actuals` alone on the committed batch (the ingest's write
is then not in the peak).

Usage: python benchmarks/label_index.py [--rows 4000000] [--old OLD_LABELS.py] [--repeat 3]
       [--pass-rows N ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import polars as pl  # noqa: E402
from _common import Timing, run_timed  # noqa: E402

CONFIG = """\
store: store
models:
  m:
    task: binary_classification
    id: request_id
    timestamp: ts
    score: score
    label: label
    features: {x: numeric}
"""
START = datetime(2026, 11, 1)
ALLOCATOR = {"_RJEM_MALLOC_CONF": "muzzy_decay_ms:0,narenas:1"}  # what `evalctl` sets
CHILD = """\
import importlib.util, json, sys
from pathlib import Path
mode, folder, export, old, pass_rows = sys.argv[1:6]
from evalctl.lake import labels
if pass_rows:
    labels.LABEL_PASS_ROWS = int(pass_rows)
if old:  # the index as an older release computed it
    spec = importlib.util.spec_from_file_location("old_labels", old)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    labels.index_actuals = module.index_actuals
if mode == "ingest":
    from evalctl.cli.app import run
    code = run(["--config", f"{folder}/evalctl.yaml", "ingest-actuals", export, "--model", "m",
                "-f", "json"])
    raise SystemExit(code)
from evalctl.lake.store import Store
store = Store.open(Path(folder) / "store")
record = store.actual_records("m")[-1]
print(json.dumps(labels.index_actuals(store, "m", "request_id", record.files)))
"""


def build(folder: Path, rows: int) -> Path:
    """The store with the predictions committed, and the actuals export."""
    (folder / "evalctl.yaml").write_text(CONFIG)
    ids = pl.int_range(rows, dtype=pl.Int64)
    predictions = folder / "predictions.parquet"
    pl.LazyFrame().select(
        pl.format("r{}", ids).alias("request_id"),
        (pl.lit(START) + pl.duration(seconds=ids * (30 * 86_400 // rows))).alias("ts"),
        ((ids * 7919 % 1000) / 1000).alias("score"),
        (ids % 2).alias("label"),
        (ids % 97).cast(pl.Float64).alias("x"),
    ).sink_parquet(predictions)
    from evalctl.cli.app import run

    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    assert run(["init", str(folder / "store"), "--no-config"], **quiet) == 0
    assert run(["--config", str(folder / "evalctl.yaml"), "ingest", str(predictions),
                "--model", "m", "--version", "v1", "--env", "production"], **quiet) == 0
    predictions.unlink()
    matched = rows * 9 // 10
    picked = pl.int_range(matched, dtype=pl.Int64).shuffle(seed=1)
    export = folder / "actuals.parquet"
    pl.LazyFrame().select(
        pl.concat([pl.format("r{}", picked), pl.format("r{}", picked.head(rows // 50)),
                   pl.format("late{}", pl.int_range(rows - matched, dtype=pl.Int64))]
                  ).alias("request_id"),
    ).with_columns(
        (pl.col("request_id").hash() % 2).cast(pl.Int64).alias("label"),
        pl.lit(START + timedelta(days=31)).alias("ts"),
    ).sink_parquet(export)
    return export


def one_run(base: Path, export: Path, mode: str, old: str, pass_rows: str) -> Timing:
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        folder = Path(scratch)
        shutil.copytree(base / "store", folder / "store")
        shutil.copy(base / "evalctl.yaml", folder / "evalctl.yaml")
        if mode == "index":  # commit the batch first; time the index alone
            run_timed([sys.executable, "-c", CHILD, "ingest", str(folder), str(export), "",
                       ""], env=ALLOCATOR)
        return run_timed([sys.executable, "-c", CHILD, mode, str(folder), str(export), old,
                          pass_rows], env=ALLOCATOR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--old", help="an older lake/labels.py to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pass-rows", type=int, nargs="*", default=[],
                        help="also run the new code with LABEL_PASS_ROWS set to each of these")
    parser.add_argument("--work", type=Path, help="where to build the store (default: /tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        base = Path(work)
        export = build(base, args.rows)
        ways = [("new", "", "")] + [(f"new/{n:,}", "", str(n)) for n in args.pass_rows]
        ways += [("old", str(Path(args.old).resolve()), "")] if args.old else []
        print(f"{args.rows:,} actuals rows against {args.rows:,} stored predictions; "
              "wall s / CPU s / peak RSS MiB")
        for mode in ("ingest", "index"):
            for n in range(args.repeat):
                for name, old, pass_rows in ways if n % 2 == 0 else ways[::-1]:
                    t = one_run(base, export, mode, old, pass_rows)
                    print(f"{mode:7} {name:14} {t.seconds:6.2f} {t.cpu_seconds:6.2f} "
                          f"{t.peak_rss_mib:7.0f}", flush=True)


if __name__ == "__main__":
    main()
