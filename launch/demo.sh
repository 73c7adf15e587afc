#!/usr/bin/env bash
# The main job end to end on a generated corpus (no download):
#   synth -> prepare (train, and test with the train vocabulary) -> inspect -> train -> eval -> predict
#   (text on stdin, then the whole test corpus into an HDF5 file)
# Usage: bash launch/demo.sh [OUTDIR]   (default: ./demo; uses $TCDIST, else build/tcdist, else tcdist on PATH)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tcdist=${TCDIST:-$root/build/tcdist}
if [ -z "${TCDIST:-}" ] && [ ! -x "$tcdist" ] && command -v tcdist >/dev/null 2>&1; then
  tcdist=$(command -v tcdist)   # installed (cmake --install): tcdist on PATH
fi
out=${1:-demo}
if [ ! -x "$tcdist" ]; then
  echo "demo.sh: $tcdist not found; build first: cmake -B build && cmake --build build -j" >&2
  exit 1
fi
mkdir -p "$out"
set -x
"$tcdist" synth --docs 20000 --classes 2 --seed 1 -o "$out/train.tsv"
"$tcdist" synth --docs 2000 --classes 2 --seed 1 --part 1 -o "$out/test.tsv"
"$tcdist" prepare --format tsv -o "$out/train.h5" "$out/train.tsv"
"$tcdist" prepare --format tsv --vocab "$out/train.h5" -o "$out/test.h5" "$out/test.tsv"
"$tcdist" inspect "$out/train.h5"
"$tcdist" train --data "$out/train.h5" --valid "$out/test.h5" --run-dir "$out/run" --overwrite
"$tcdist" eval --model "$out/run" --data "$out/test.h5"
head -n 4 "$out/test.tsv" | tail -n 3 | cut -f1 | "$tcdist" predict --model "$out/run" --top-k 2
"$tcdist" predict --model "$out/run" --data "$out/test.h5" -o "$out/test-predictions.h5"
