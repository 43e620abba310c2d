"""Build `benchmarks/profiles.py`'s store at one size, without timing every step: to measure
a few commands (say the scan path's peak RSS at 5M and 20M rows per side) on a store built
once. The same data, config and steps as the profiles benchmark: the training batch ingested,
`profiles build` (fits the reference on it and profiles it), the production batch ingested with
its profiles. The folder gets `evalctl.yaml` (model `bench`, `reference: training`) and
`store/`; run commands with `cwd` there.

Usage: python benchmarks/stores.py DIR --rows 20000000
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import evalctl_timed, write_config, write_synth_export  # noqa: E402


def build_store(work: Path, rows: int) -> None:
    """`rows` training rows from 2026-09-01 and `rows` production rows from 2026-11-01 (numeric
    features shifted), each over 30 days, with the reference fitted and every file profiled."""
    work.mkdir(parents=True, exist_ok=True)
    config = write_config(work)
    config.write_text(config.read_text().replace(
        "    features:\n", "    reference: training\n    features:\n", 1))
    evalctl_timed(["init", "store", "--no-config"], cwd=work)
    for env, seed, shift, start, offset in (("training", 1, 0.0, datetime(2026, 9, 1), 0),
                                            ("production", 2, 0.2, datetime(2026, 11, 1), rows)):
        path = work / f"{env}.parquet"
        write_synth_export(path, rows, seed=seed, start=start, days=30, shift=shift,
                           id_offset=offset)
        evalctl_timed(["ingest", path.name, "--model", "bench", "--version", "v1",
                       "--env", env], cwd=work)
        path.unlink()
        if env == "training":  # the production ingest then profiles its files at ingest
            evalctl_timed(["profiles", "build", "--model", "bench"], cwd=work)
        print(f"{env}: {rows:,} rows ingested", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="a new folder for the config and the store")
    parser.add_argument("--rows", type=int, required=True, help="rows per side")
    args = parser.parse_args()
    build_store(args.dir, args.rows)


if __name__ == "__main__":
    main()
