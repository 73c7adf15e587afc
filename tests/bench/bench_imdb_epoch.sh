#!/usr/bin/env bash
# Seconds per IMDB epoch of any model: one whole epoch at 1 rank x 2 threads and at
# `mpirun -np 2 --bind-to core ... --threads 1`, alternating, REPS times each; the training loop's
# seconds (summary.json's train_seconds: no start-up, loading or model writing), the process's wall
# seconds and peak RSS (/usr/bin/time; for mpirun the largest process it sees). Prints a Markdown
# table with the machine and the medians. Not a CTest test: run it on an idle machine.
#   bash tests/bench/bench_imdb_epoch.sh TRAIN.h5 REPS [tcdist train flags...]
# TRAIN.h5: IMDB train prepared as in datasets/README.md (a missing file is skipped with a message).
# Example (the transformer's IMDB settings of docs/training.md):
#   bash tests/bench/bench_imdb_epoch.sh imdb/train20k.h5 3 --model transformer --layers 1 --dim 32 \
#        --heads 2 --ffn 32 --max-len 512 --batch 32 --lr 0.001
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TCDIST=${TCDIST:-$ROOT/build/tcdist}
PYTHON=${PYTHON:-python3}
[ $# -ge 2 ] || { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
DATA=$1 REPS=$2; shift 2
[ -f "$DATA" ] || { echo "bench_imdb_epoch: $DATA is absent: skipped (prepare IMDB first, datasets/README.md)"; exit 0; }
command -v /usr/bin/time >/dev/null || { echo "bench_imdb_epoch: needs GNU time (bash launch/install-deps.sh --bench)" >&2; exit 1; }
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
[ "$(id -u)" != 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(train --data "$DATA" --epochs 1 --seed 1 --quiet --overwrite --no-checkpoint "$@")
field() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
run() { # LAYOUT REP -> "loop wall rss_kB"
  local rd=$W/$1-$2
  if [ "$1" = 1x2 ]; then
    /usr/bin/time -f "%e %M" -o "$W/time" "$TCDIST" "${common[@]}" --run-dir "$rd" --threads 2
  else
    /usr/bin/time -f "%e %M" -o "$W/time" mpirun -np 2 --bind-to core "$TCDIST" "${common[@]}" --run-dir "$rd" --threads 1
  fi
  echo "$(field "$rd/summary.json" train_seconds) $(cat "$W/time")"
}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F); $("$TCDIST" --version 2>/dev/null || echo tcdist)"
echo "flags: ${*:-(defaults)}"
declare -A loops
for i in $(seq "$REPS"); do
  for lay in 1x2 2x1; do
    read -r loop wall rss <<<"$(run "$lay" "$i")"
    loops[$lay]+="$loop "
    echo "rep $i $lay: loop $loop s, wall $wall s, peak RSS $((rss / 1024)) MiB"
  done
done
med() { "$PYTHON" -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])):.1f}")' $1; }
m1=$(med "${loops[1x2]}") m2=$(med "${loops[2x1]}")
echo
echo "| layout | s per epoch (training loop, median of $REPS) |"
echo "|---|---|"
echo "| 1 rank x 2 threads | $m1 |"
echo "| 2 ranks x 1 thread (mpirun) | $m2 |"
"$PYTHON" -c "print(f'2 x 1 runs the epoch in {$m2 / $m1:.2f}x the time of 1 x 2 ({$m1 / $m2:.2f}x its speed)')"
