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

step ingest training, validation, production, shadow, recomputed, actuals
evalctl ingest "$DATA/training.parquet"              $M --version v1 --env training   -f table
evalctl ingest "$DATA/validation_v1.parquet"         $M --version v1 --env validation -f table
evalctl ingest "$DATA/validation_v2.parquet"         $M --version v2 --env validation -f table
evalctl ingest "$DATA/production_v1.csv"             $M --version v1 --env production -f table
evalctl ingest "$DATA/shadow_v2.jsonl"               $M --version v2 --env shadow     -f table
evalctl ingest "$DATA/recomputed_v2_training.parquet" $M --version v2 --env training  -f table
evalctl ingest-actuals "$DATA/actuals_late.csv"      $M -f table

step catalog
evalctl catalog -f table
step doctor
evalctl doctor -f table
