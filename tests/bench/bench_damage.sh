#!/usr/bin/env bash
# The damage matrix at 1000 trials per file kind (tests/e2e/damage/matrix.py), for
# docs/robustness.md: writes tests/bench/results/DATE-damage.md with the table. Not timing-
# sensitive (run it niced, under the shared lock). Usage: tests/bench/bench_damage.sh [TRIALS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
TCDIST="${TCDIST:-$src/build/tcdist}"
trials="${1:-1000}"
out="$here/results/$(date -u +%F)-damage.md"
{
  echo "# Damage matrix, $trials trials per file kind"
  echo
  echo "$(date -u '+%F %H:%M UTC'), $(uname -n), $(nproc) cores; tcdist $(git -C "$src" rev-parse --short HEAD);"
  echo "command: tests/bench/bench_damage.sh $trials"
  echo
} > "$out"
for kind in corpus model checkpoint; do
  TCDIST="$TCDIST" nice -n 10 "${PYTHON:-/usr/bin/python3}" "$src/tests/e2e/damage/matrix.py" --kind $kind \
    --trials "$trials" --table "$out"
done
echo "table: $out"
