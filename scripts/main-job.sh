#!/usr/bin/env bash
# The main job: builds flint, generates TPC-H data (scale factor $SF, default 1) and runs
# all 22 TPC-H queries, in Spark's SQL text, as one application in local mode.
#   SF=0.1 MASTER='local[2]' scripts/main-job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SF="${SF:-1}"
MASTER="${MASTER:-local[*]}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/flint/target}"
# The same package set as the benchmark, so both share one build of DataFusion.
cargo build --release -p flint-cli -p flint-benchmarks
FLINT="$CARGO_TARGET_DIR/release/flint"
DATA="${DATA:-$PWD/data/tpch-sf$SF}"
if [ ! -f "$DATA/_COMPLETE" ]; then
  "$FLINT" datagen tpch --scale-factor "$SF" --output "$DATA"
  touch "$DATA/_COMPLETE"
fi
APP="$(mktemp -d)/tpch.sql"
trap 'rm -rf "$(dirname "$APP")"' EXIT
for table in nation region part supplier partsupp customer orders lineitem; do
  echo "CREATE TEMPORARY VIEW $table USING parquet OPTIONS (path '$DATA/$table.parquet');" >> "$APP"
done
for q in $(seq 1 22); do
  echo "-- q$q" >> "$APP"
  sed -e '/^--/d' "benchmarks/queries/q$q.sql" >> "$APP"
  echo ";" >> "$APP"
done
"$FLINT" submit --master "$MASTER" --name "TPC-H SF$SF" --driver-memory "${DRIVER_MEMORY:-4g}" "$APP"
