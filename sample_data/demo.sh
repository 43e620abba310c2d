#!/usr/bin/env bash
# `make demo`: build the sample story, ingest it into ./demo_store and run the main reports.
# Safe to re-run: every ingest of an unchanged file is a no-op that says "already ingested".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=sample_data/generated
M="--model tv-recommender"
evalctl() { "$BIN/evalctl" --config configs/evalctl.yaml "$@"; }
step() { printf '\n\033[1m$ evalctl %s\033[0m\n' "$*" >&2; }

"$BIN/python" sample_data/generate.py --out "$DATA"
"$BIN/evalctl" init demo_store --no-config --format table >/dev/null

step ingest training, recomputed
evalctl ingest "$DATA/training.parquet"              $M --version v1 --env training   -f table
evalctl ingest "$DATA/recomputed_v2_training.parquet" $M --version v2 --env training  -f table
# The config's `reference: training` now matches all it will: fit the monitoring reference on
# it, once. From here on every ingest writes its batch's profiles in its commit, and skew,
# drift and monitor read profiles instead of rows. (Ingest never fits it by itself: a
# reference fitted on the first of several training batches would freeze the wrong bins.)
step profiles build
evalctl profiles build $M -f table
step ingest validation, production, shadow, actuals
evalctl ingest "$DATA/validation_v1.parquet"         $M --version v1 --env validation -f table
evalctl ingest "$DATA/validation_v2.parquet"         $M --version v2 --env validation -f table
evalctl ingest "$DATA/production_v1.csv"             $M --version v1 --env production -f table
evalctl ingest "$DATA/shadow_v2.jsonl"               $M --version v2 --env shadow     -f table
evalctl ingest-actuals "$DATA/actuals_late.csv"      $M -f table

step catalog
evalctl catalog -f table
step doctor
evalctl doctor -f table

# The reports. Exit 1 means "a check failed" — expected in this story, so the demo goes on.
step skew --reference training --current production@2026-11-15..2026-11-30
evalctl skew $M --reference training --current production@2026-11-15..2026-11-30 -f table || true
step skew --reference training:v2 --current production:v1@2026-11-01..2026-11-07 --join-key request_id
evalctl skew $M --reference training:v2 --current production:v1@2026-11-01..2026-11-07 \
    --join-key request_id -f table || true
step drift --current production@2026-11-01..2026-11-30 --window 1d
evalctl drift $M --reference training --current production@2026-11-01..2026-11-30 --window 1d -f table || true
step slices --selector production@2026-11-15..2026-11-30 --discover --compare-to production@2026-11-01..2026-11-14
evalctl slices $M --selector production@2026-11-15..2026-11-30 --top 5 --discover \
    --compare-to production@2026-11-01..2026-11-14 -f table || true
step validate --candidate v2 --baseline v1 --selector validation
evalctl validate $M --candidate v2 --baseline v1 --selector validation -f markdown | head -12 || true
step monitor --date 2026-11-30 --alerts demo_store/alerts.jsonl
for day in 2026-11-10 2026-11-16 2026-11-22; do
  evalctl monitor $M --date "$day" -f json --output "demo_store/monitor-$day.json" || true
done
evalctl monitor $M --date 2026-11-30 --alerts demo_store/alerts.jsonl -f table || true
step history --check drift
evalctl history $M --check drift -f table
step compare --champion v1 --challenger v2 --selector production@2026-11-17..2026-11-30
evalctl compare $M --champion v1 --challenger v2 --selector production@2026-11-17..2026-11-30 -f table || true
step rca --baseline production@2026-11-01..2026-11-14 --current production@2026-11-15..2026-11-25
evalctl rca $M --baseline production@2026-11-01..2026-11-14 --current production@2026-11-15..2026-11-25 -f table || true
step estimate --reference validation --current production@2026-11-20..2026-11-30
evalctl estimate $M --reference validation --current production@2026-11-20..2026-11-30 -f table || true
step export --segment 'age=[-inf,28)' --only-errors
evalctl export $M --selector production@2026-11-15..2026-11-25 --segment 'age=[-inf,28)' \
    --only-errors --out sample_data/generated/young-errors.parquet -f table || true
