"""Memory of an actuals batch ingested again: peak RSS of `evalctl ingest-actuals` on an
export whose batch is already committed, which recounts the batch's ids that no stored
prediction has (`lake.ingest._unmatched_ids`, in passes over hash buckets of the ids).

The store and the export are `benchmarks/label_index.py`'s (N prediction rows; 1.02 N actuals,
10% of their ids without a prediction); the batch is committed once, then each run copies
the store and ingests the export again in a child process (the command's allocator
options), reporting wall and CPU time and peak RSS (VmHWM). `--old` alternates with the
count as it stood before (one hash table of every id of the batch and an anti-join against
every predicted id), `--repeat` times.

Usage: python benchmarks/unmatched_ids.py [--rows 4000000] [--old] [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import Timing, run_timed  # noqa: E402
from label_index import ALLOCATOR, build  # noqa: E402

CHILD = """\
import sys
import polars as pl
from evalctl.lake import ingest
folder, export, old = sys.argv[1:4]
if old:  # the count before it went through the label index's passes
    def _unmatched_ids(store, model, batch):
        record = next((r for r in store.records if r.batch == batch), None)
        if record is None:
            return 0
        location = lambda f: store.storage.url(f.path)
        ids = store.scan_files([location(f) for f in record.files]).select(model.id).unique()
        predicted = [location(f) for r in store.prediction_records(model.name) for f in r.files]
        if predicted:
            stored = store.scan_files(predicted).select(model.id).unique()
            ids = ids.join(stored, on=model.id, how="anti")
        return int(ids.select(pl.len()).collect(engine="streaming").item())
    ingest._unmatched_ids = _unmatched_ids
from evalctl.cli.app import run
code = run(["--config", f"{folder}/evalctl.yaml", "ingest-actuals", export, "--model", "m",
            "-f", "json"])
raise SystemExit(code)
"""


def one_run(base: Path, export: Path, old: bool) -> Timing:
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        folder = Path(scratch)
        shutil.copytree(base / "store", folder / "store")
        shutil.copy(base / "evalctl.yaml", folder / "evalctl.yaml")
        return run_timed([sys.executable, "-c", CHILD, str(folder), str(export),
                          "old" if old else ""], env=ALLOCATOR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--old", action="store_true", help="alternate with the old count")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, help="where to build the store (default: /tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        base = Path(work)
        export = build(base, args.rows)
        run_timed([sys.executable, "-c", CHILD, str(base), str(export), ""], env=ALLOCATOR)
        ways = [("new", False)] + ([("old", True)] if args.old else [])
        print(f"{args.rows:,} actuals rows ingested again against {args.rows:,} stored "
              "predictions; wall s / CPU s / peak RSS MiB")
        for n in range(args.repeat):
            for name, old in ways if n % 2 == 0 else ways[::-1]:
                t = one_run(base, export, old)
                print(f"{name:4} {t.seconds:6.2f} {t.cpu_seconds:6.2f} {t.peak_rss_mib:7.0f}",
                      flush=True)


if __name__ == "__main__":
    main()
