#!/usr/bin/env bash
# Under mpirun with the output going to a file, the progress is plain lines: no carriage returns
# or terminal escapes in the log (Open MPI forwards rank 0's output through a pseudo-terminal, so
# isatty() says yes even then). Alone on a real terminal the line is rewritten in place.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$TCDIST" synth --docs 2000 --classes 2 --seed 4 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
timeout 120 "${MPIEXEC:-mpirun}" -n 2 "$TCDIST" train --data "$T/a.h5" --run-dir "$T/run" --epochs 40 --batch 20 \
  --threads 1 --progress-secs 0.1 > "$T/train.log" 2>&1
grep -q "^epoch [0-9]*/40 step" "$T/train.log" || { cat "$T/train.log"; fail "no plain progress lines in the log"; }
if grep -q $'\r\|\x1b' "$T/train.log"; then fail "the log holds carriage returns or escape sequences"; fi
if command -v script >/dev/null 2>&1; then
  # a lone process on a terminal (script(1) gives it one) rewrites its line
  script -qec "$TCDIST train --data $T/a.h5 --run-dir $T/tty --epochs 2 --batch 50 --threads 1" /dev/null > "$T/tty.log"
  grep -q $'\x1b\\[K' "$T/tty.log" || fail "on a terminal the progress line is not rewritten in place"
fi
echo "ok: plain progress lines under mpirun; a rewritten line on a terminal"
