"""Object-storage benchmark (issue #18 item 6): a local store against an `s3://` store on a
moto server on loopback (tests/s3_server.py), in one run.

1. `ingest` of a 1,000,000-row, 30-feature export (training), then of a shifted one
   (production), and `skew --reference training --current production`, on each store. Floors:
   for ingest, a bare polars read of the export plus a zstd write of it (to a local file, and to
   the bucket through polars' cloud IO); for skew, a bare polars scan of the same committed
   files (as `evalctl files` names them) reading the 30 feature columns, locally and from S3.
2. `catalog` and `batches` with 1,000 committed batches: 1,000 tiny ingests (5 rows each, each
   on a day of its own, in one process) into a local store, whose tree is copied into the
   bucket; the bucket is read as copied (no checkpoint: one GET per record) and after one more
   ingest, whose commit writes a ledger checkpoint. (An ingest reads the ids of the committed
   files of the days it touches, so 1,000 batches on one day would cost ~n^2/2 reads to build;
   building the S3 store by 1,000 ingests of its own took too long on the loaded host.)

Prints wall time, the child's CPU time (user+sys: what to compare on a shared host), and the
object requests each command made (GET / PUT / LIST / HEAD / DELETE / POST, read from the
server's request log). Loopback has no network latency: on real S3 each request costs
~10-30 ms more, so the request counts are the figures that carry over.

Usage: python benchmarks/s3.py [--rows 1000000] [--batches 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the repo root in place of the script's folder, which Python puts first: benchmarks/html.py
# would shadow the standard library's html (that boto3 imports)
sys.path[0] = str(REPO)
from benchmarks._common import feature_names, synth_frame, write_config  # noqa: E402
from tests.s3_server import S3Server, running  # noqa: E402

from evalctl.lake.layout import LEDGER  # noqa: E402

KINDS = ("GET", "PUT", "LIST", "HEAD", "DELETE", "POST")
INGEST = ["--model", "bench", "--version", "v1"]
SCAN_FLOOR = """
import json, sys, polars as pl
files = json.loads(sys.argv[1]); options = json.loads(sys.argv[2]) or None
columns = json.loads(sys.argv[3])
pl.scan_parquet(files, storage_options=options).select(columns).collect()
"""
INGEST_FLOOR = """
import json, sys, polars as pl
options = json.loads(sys.argv[3]) or None
pl.read_parquet(sys.argv[1]).write_parquet(sys.argv[2], compression="zstd",
                                           storage_options=options)
"""
TINY_INGESTS = """
import io, sys
from datetime import datetime, timedelta
import polars as pl
from evalctl.cli.app import run
first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
for i in range(first, first + int(sys.argv[1])):
    frame = pl.DataFrame({"request_id": [f"b{i}-{j}" for j in range(5)],
                          "ts": [datetime(2024, 1, 1) + timedelta(days=i)] * 5,
                          "f": [1.0, 2.0, 3.0, 4.0, float(i)],
                          "score": [0.1, 0.4, 0.5, 0.7, 0.9],
                          "predicted_label": [0, 0, 1, 1, 1], "label": [0, 1, 1, 1, 0]})
    frame.write_parquet("tiny.parquet")
    err = io.StringIO()
    code = run(["--store", sys.argv[2], "ingest", "tiny.parquet", "--model", "tiny",
                "--version", "v1", "--env",
                "production", "-f", "json"], stdout=io.StringIO(), stderr=err)
    if code != 0:
        sys.exit(f"tiny ingest {i} failed with exit {code}: {err.getvalue()}")
"""
TINY_CONFIG = """store: {store}
models:
  tiny:
    task: binary_classification
    id: request_id
    timestamp: ts
    prediction: predicted_label
    score: score
    label: label
    features:
      f: numeric
"""


@dataclass(frozen=True)
class Measure:
    name: str
    seconds: float
    cpu: float
    requests: Counter[str]


def timed(name: str, args: list[str], cwd: Path, env: dict[str, str],
          server: S3Server | None) -> tuple[Measure, str]:
    """Run a child process; wall time, its CPU time (user+sys), the object requests it made,
    and its stdout."""
    before = len(server.sync()) if server else 0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=os.environ | env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{name}: {' '.join(args)} failed (exit {done.returncode}):\n"
                         f"{done.stderr}")
    requests = Counter(r.kind for r in server.sync()[before:]) if server else Counter()
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return Measure(name, seconds, cpu, requests), done.stdout


def evalctl(name: str, args: list[str], cwd: Path, env: dict[str, str],
            server: S3Server | None) -> tuple[Measure, str]:
    return timed(name, [sys.executable, "-m", "evalctl", *args], cwd, env, server)


def python(name: str, code: str, args: list[str], cwd: Path, env: dict[str, str],
           server: S3Server | None) -> Measure:
    return timed(name, [sys.executable, "-c", code, *args], cwd, env, server)[0]


def print_table(title: str, rows: list[Measure]) -> None:
    print(f"\n{title}", flush=True)
    print(f"{'step':<40}{'wall s':>8}{'cpu s':>8}" + "".join(f"{k:>7}" for k in KINDS))
    for m in rows:
        print(f"{m.name:<40}{m.seconds:>8.2f}{m.cpu:>8.2f}"
              + "".join(f"{m.requests.get(k, 0):>7}" for k in KINDS), flush=True)


def committed_files(store: str, selector: str, cwd: Path, env: dict[str, str]) -> list[str]:
    _, out = evalctl("files", ["--store", store, "files", "--model", "bench", "--selector",
                               selector, "-f", "json"], cwd, env, None)
    return [row["path"] for row in json.loads(out)["results"]]


def big_story(work: Path, server: S3Server, rows: int) -> list[Measure]:
    """Ingest twice and skew, on the local store and on the bucket; with their floors."""
    training, production = work / "training.parquet", work / "production.parquet"
    if not production.exists():
        print(f"generating 2 x {rows:,} rows x 30 features ...", file=sys.stderr)
        synth_frame(rows, seed=1, start=datetime(2026, 11, 1), days=30).write_parquet(training)
        synth_frame(rows, seed=2, start=datetime(2026, 11, 1), days=30, shift=0.3,
                    id_offset=rows).write_parquet(production)
    write_config(work)
    columns = json.dumps(list(feature_names()))
    bucket = server.make_bucket("bench")
    measures: list[Measure] = []
    for kind, store, env, srv in (("local", str(work / "store"), {}, None),
                                  ("s3", f"s3://{bucket}/lake", server.env(), server)):
        options = json.dumps(server.storage_options() if srv else {})
        floor_out = f"s3://{bucket}/floor.parquet" if srv else str(work / "floor.parquet")
        measures.append(python(f"{kind}: floor read+write 1 export", INGEST_FLOOR,
                               [str(training), floor_out, options], work, env, srv))
        shutil.rmtree(work / "store", ignore_errors=True)
        evalctl("init", ["init", store, "--no-config"], work, env, srv)
        for name, path in (("training", training), ("production", production)):
            measures.append(evalctl(f"{kind}: ingest {name}",
                                    ["--store", store, "ingest", str(path), *INGEST, "--env",
                                     name], work, env, srv)[0])
        measures.append(evalctl(f"{kind}: skew", ["--store", store, "skew", "--model", "bench",
                                                  "--reference", "training", "--current",
                                                  "production", "-f", "json"],
                                work, env, srv)[0])
        files = committed_files(store, "training", work, env) + committed_files(
            store, "production", work, env)
        measures.append(python(f"{kind}: floor scan of skew's {len(files)} files", SCAN_FLOOR,
                               [json.dumps(files), options, columns], work, env, srv))
    return measures


def many_batches(work: Path, server: S3Server, batches: int) -> list[Measure]:
    """`catalog` and `batches` of a store with `batches` committed batches, local and on the
    bucket. The local store is built by as many tiny ingests (in one process; kept and reused
    with --keep); the bucket gets a copy of its tree (object for object: the layout is the same)
    and is measured twice: as copied (no ledger checkpoint: the worst case, one GET per record)
    and after one more ingest into it, whose commit writes a checkpoint of the whole ledger."""
    folder = work / "tiny"
    folder.mkdir(exist_ok=True)
    (folder / "evalctl.yaml").write_text(TINY_CONFIG.format(store="store"))
    root = folder / "store"
    measures = []
    have = len(list((root / LEDGER).glob("*.json"))) if root.exists() else 0
    if have < batches:
        shutil.rmtree(root, ignore_errors=True)
        evalctl("init", ["init", "store", "--no-config"], folder, {}, None)
        print(f"committing {batches:,} tiny batches into the local store ...", file=sys.stderr)
        measures.append(python(f"local: {batches:,} tiny ingests (one process)", TINY_INGESTS,
                               [str(batches), "store"], folder, {}, None))
    bucket = server.make_bucket("catalog")
    store = f"s3://{bucket}/lake"
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and "_staging" not in p.parts]
    print(f"copying {len(files):,} files into {store} ...", file=sys.stderr)
    client = server.client()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: client.upload_file(
            str(p), bucket, f"lake/{p.relative_to(root).as_posix()}"), files))
    stores = [("local", "store", {}, None, batches),
              ("s3, no checkpoint", store, server.env(), server, batches)]
    for kind, where, env, srv, expected in stores:
        measures += _read_many(kind, where, env, srv, expected, folder)
    measures.append(python("s3: 1 more tiny ingest (writes a checkpoint)", TINY_INGESTS,
                           ["1", store, str(batches)], folder, server.env(), server))
    measures += _read_many("s3, checkpoint", store, server.env(), server, batches + 1, folder)
    return measures


def _read_many(kind: str, store: str, env: dict[str, str], server: S3Server | None,
               expected: int, folder: Path) -> list[Measure]:
    measure, out = evalctl(f"{kind}: catalog ({expected:,} batches)",
                           ["--store", store, "catalog", "-f", "json"], folder, env, server)
    got = json.loads(out)["summary"]
    assert got.get("batches", expected) == expected, got
    return [measure, evalctl(f"{kind}: batches ({expected:,} batches)",
                             ["--store", store, "batches", "-f", "json"], folder, env,
                             server)[0]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="evalctl-s3-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"object storage benchmark: moto on loopback (unthreaded), {args.rows:,} rows x 30 "
          f"features per export, {args.batches:,} batches for catalog", flush=True)
    try:
        with running(work / "moto") as server:
            # each table as soon as it is measured: the 1,000-batch part is the long one
            print_table("ingest and skew (requests: the S3 store's object requests)",
                        big_story(work, server, args.rows))
            print_table("many batches", many_batches(work, server, args.batches))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
