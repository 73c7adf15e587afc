#!/usr/bin/env bash
# Trained on GLUE SST-2 train with the defaults, the dev accuracy must reach 0.80.
set -euo pipefail
D=${TCDIST_DATA_DIR:-}/sst2
if [ ! -f "$D/train.tsv" ]; then echo "skipped: $D/train.tsv not found (real corpora are not in a user's clone)"; exit 77; fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$TCDIST" prepare --format tsv --text-field sentence -o "$T/train.h5" "$D/train.tsv" >/dev/null
"$TCDIST" prepare --format tsv --text-field sentence --vocab "$T/train.h5" -o "$T/dev.h5" "$D/dev.tsv" >/dev/null
"$TCDIST" train --data "$T/train.h5" --valid "$T/dev.h5" --run-dir "$T/run" --threads 2 --quiet
acc=$("$TCDIST" eval --model "$T/run" --data "$T/dev.h5" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])')
echo "SST-2 dev accuracy: $acc"
"$PYTHON" -c "import sys; sys.exit(0 if $acc >= 0.80 else 1)" || { echo "FAIL: SST-2 dev accuracy $acc < 0.80"; exit 1; }
