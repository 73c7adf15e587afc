#!/usr/bin/env bash
# A full disk: refused before step 0 when there is clearly no room; when the disk fills up during
# the run, the failed checkpoint is reported, the previous one is kept intact, no temporary file is
# left, and the run ends non-zero. Uses a small tmpfs (needs root and mount; skipped otherwise).
set -euo pipefail
T=$(mktemp -d)
M="$T/disk"
mkdir -p "$M"
cleanup() { umount "$M" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
if ! mount -t tmpfs -o size=1m tmpfs "$M" 2>/dev/null; then
  echo "skipped: cannot mount a tmpfs here (needs root); the disk-full paths are not exercised"
  exit 77
fi
"$TCDIST" synth --docs 4000 --classes 2 --seed 41 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
common=(--data "$T/a.h5" --epochs 3 --batch 64 --dim 32 --quiet --threads 1 --checkpoint-every 20)

# 1. 1 MiB: refused before step 0, naming the space
set +e
"$TCDIST" train "${common[@]}" --run-dir "$M/run" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "MB free" "$T/err" || { cat "$T/err"; fail "a full disk was not refused before step 0"; }
[ ! -e "$M/run/checkpoints" ] || [ -z "$(ls "$M/run/checkpoints")" ] || fail "a refused run wrote checkpoints"
umount "$M"

# 2. room for one checkpoint and a half: the second write fails
"$TCDIST" train "${common[@]}" --run-dir "$T/ref" --max-steps 20
size=$(stat -c %s "$T/ref/checkpoints/$(cat "$T/ref/checkpoints/latest")")
kb=$(( size * 16 / 10 / 1024 + 1200 ))
mount -t tmpfs -o size=${kb}k tmpfs "$M"
set +e
"$TCDIST" train "${common[@]}" --run-dir "$M/run" 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] || fail "a run whose checkpoints could not be written exited 0"
[ $rc -lt 128 ] || { cat "$T/err"; fail "the run died by signal $((rc - 128)) instead of exiting with an error"; }
grep -q "checkpoint at step .* failed.*disk full" "$T/err" || { cat "$T/err"; fail "no message about the failed checkpoint"; }
grep -q "previous checkpoint is kept" "$T/err" || fail "the message does not say the previous checkpoint is kept"
latest="$M/run/checkpoints/$(cat "$M/run/checkpoints/latest")"
"$TCDIST" inspect "$latest" >/dev/null || fail "the kept checkpoint does not verify"
ls -a "$M/run/checkpoints" | grep -q "\.tmp\." && fail "a temporary file was left behind"
echo "ok: full disk refused before step 0; a failed write kept the previous checkpoint ($(basename "$latest")), exit $rc"
