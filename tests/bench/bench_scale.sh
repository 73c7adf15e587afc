#!/usr/bin/env bash
# Scale benchmark: a synthetic corpus larger than the training's memory budget, end to end.
#   bash tests/bench/bench_scale.sh [SIZE=2G] [WORK=/tmp/tcdist-scale]
# synth -> prepare -> one epoch of train (streamed: the corpus exceeds --max-memory, default 512 MB),
# each under /usr/bin/time for wall time and peak RSS. Needs ~2.2x SIZE of disk in WORK.
set -euo pipefail
size=${1:-2G}
work=${2:-/tmp/tcdist-scale}
root=$(cd "$(dirname "$0")/../.." && pwd)
tcdist=${TCDIST:-$root/build/tcdist}
mkdir -p "$work"
t() { /usr/bin/time -f "$1: %e s wall, peak RSS %M KB" "${@:2}"; }
t synth "$tcdist" synth --bytes "$size" --classes 2 --seed 9 -o "$work/big.tsv"
t prepare "$tcdist" prepare -o "$work/big.h5" "$work/big.tsv" | grep -E "documents|tokens|MB/s"
t train "$tcdist" train --data "$work/big.h5" --run-dir "$work/run" --overwrite --epochs 1 --threads 2 \
  --no-checkpoint --quiet
grep -o '"tokens_per_s": [0-9.]*\|"phase_seconds": {[^}]*}' "$work/run/summary.json"
