#!/usr/bin/env bash
# Checkpoint faults: SIGKILL in the middle of a checkpoint write (10 trials) never damages the
# previous checkpoint; a bit-flipped or truncated checkpoint is detected and the run falls back to an
# older one; resuming on changed data or a changed model is refused unless --force; NaN stops the
# run naming the step and tensor (or skips the batch); a real SIGUSR1 from outside stops within a
# step with a checkpoint; a second SIGINT aborts at once.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1200 --classes 2 --seed 31 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 1200 --classes 2 --seed 32 -o "$T/b.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/b.h5" "$T/b.tsv" >/dev/null  # same shape, other data
common=(--epochs 2 --batch 30 --quiet --threads 1 --checkpoint-every 4)
"$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/full"
ref=$(sha "$T/full")
# time-based checkpoints: with a tiny interval, one after every step (the newest K are kept)
"$TCDIST" train --data "$T/a.h5" --epochs 2 --batch 30 --quiet --threads 1 --max-steps 12 --checkpoint-secs 0.000001 \
  --keep 100 --run-dir "$T/secs"
n=$(ls "$T/secs/checkpoints" | grep -c '^ckpt-')
[ "$n" -eq 12 ] || fail "--checkpoint-secs: $n checkpoints for 12 steps"
"$TCDIST" train --data "$T/a.h5" --epochs 2 --batch 30 --quiet --threads 1 --max-steps 12 --checkpoint-every 3 \
  --keep 2 --run-dir "$T/keep"
[ "$(ls "$T/keep/checkpoints" | grep -c '^ckpt-')" -eq 2 ] || fail "--keep 2 kept $(ls "$T/keep/checkpoints")"
echo "ok: --checkpoint-secs and --keep"
ckpt_step() { "$TCDIST" inspect "$1" --json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["step"])'; }

for trial in $(seq 1 10); do
  k=$(( trial % 5 + 2 ))   # the k-th checkpoint write is killed halfway
  set +e
  TCDIST_FAULT=killwrite:0:$k "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/kw$trial" 2>/dev/null
  rc=$?
  set -e
  [ $rc -eq 137 ] || fail "trial $trial: the writer was not killed (exit $rc)"
  latest="$T/kw$trial/checkpoints/$(cat "$T/kw$trial/checkpoints/latest")"
  [ "$(ckpt_step "$latest")" = $(( (k - 1) * 4 )) ] || fail "trial $trial: latest is not the previous checkpoint"
  ls -a "$T/kw$trial/checkpoints" | grep -q '^\.ckpt-.*\.tmp\.' || fail "trial $trial: no half-written file to sweep"
  # a live process's temporary name is not ours to remove, nor is a file of another name
  touch "$T/kw$trial/checkpoints/.ckpt-00000001.h5.tmp.$$" "$T/kw$trial/.model.h5.tmp.$$" "$T/kw$trial/.notes.tmp.1"
  "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/kw$trial"
  [ "$(sha "$T/kw$trial")" = "$ref" ] || fail "trial $trial: resumed run differs"
  # the resumed run removed the killed writer's half-written file
  left=$(ls -a "$T/kw$trial/checkpoints" "$T/kw$trial" | grep '\.tmp\.' | sort | tr '\n' ' ')
  [ "$left" = ".ckpt-00000001.h5.tmp.$$ .model.h5.tmp.$$ .notes.tmp.1 " ] || fail "trial $trial: temporary files left: $left"
done
echo "ok: 10 kills during a checkpoint write, the previous checkpoint survived and resumed bit-exactly, the half-written file was removed"

# a damaged latest checkpoint: detected, and the run falls back to the previous one
for damage in flip truncate; do
  set +e
  TCDIST_FAULT=signal:0:13 "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/$damage"
  set -e
  latest="$T/$damage/checkpoints/$(cat "$T/$damage/checkpoints/latest")"
  size=$(stat -c %s "$latest")
  if [ $damage = flip ]; then
    "$PYTHON" - "$latest" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1], "r") as f:
    off = f["optimizer/m"].id.get_chunk_info(0).byte_offset  # chunked, Fletcher32 at its end
with open(sys.argv[1], "r+b") as g:
    g.seek(off + 100); b = g.read(1); g.seek(off + 100); g.write(bytes([b[0] ^ 0x10]))
PY
  else
    truncate -s $((size / 2)) "$latest"
  fi
  set +e
  "$TCDIST" inspect "$latest" >/dev/null 2>"$T/err"; rc=$?
  set -e
  [ $rc -ne 0 ] && grep -q "$(basename "$latest")" "$T/err" || fail "$damage: inspect did not report the damaged file"
  "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/$damage" 2>"$T/err"
  grep -q "warning" "$T/err" || { cat "$T/err"; fail "$damage: no warning about the damaged checkpoint"; }
  [ "$(sha "$T/$damage")" = "$ref" ] || fail "$damage: resumed from the previous checkpoint, the result differs"
done
echo "ok: bit flip and truncation detected; resumed from the previous checkpoint"

# resuming with other data or another model shape is refused; --force overrides
set +e
TCDIST_FAULT=signal:0:9 "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/ref"
set -e
set +e
"$TCDIST" train --data "$T/b.h5" "${common[@]}" --run-dir "$T/ref" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "training data differs" "$T/err" || { cat "$T/err"; fail "changed data was not refused"; }
set +e
"$TCDIST" train --data "$T/a.h5" "${common[@]}" --dim 8 --run-dir "$T/ref" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "shape differs" "$T/err" || { cat "$T/err"; fail "a changed model was not refused"; }
"$TCDIST" train --data "$T/b.h5" "${common[@]}" --run-dir "$T/ref" --force 2>"$T/err"
grep -q "force" "$T/err" || fail "--force did not warn"
echo "ok: resume on changed data or shape refused; --force overrides"

# NaN: stopped with the step and tensor named, before the update; or the batch is skipped
set +e
TCDIST_FAULT=nan:0:6 "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/nan" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "non-finite hidden.weight gradient at step 6" "$T/err" || { cat "$T/err"; fail "NaN not reported"; }
TCDIST_FAULT=nan:0:6 "$TCDIST" train --data "$T/a.h5" "${common[@]}" --run-dir "$T/nan2" --skip-nonfinite 2>"$T/err"
grep -q "batch skipped" "$T/err" || fail "--skip-nonfinite did not report the skipped batch"
echo "ok: NaN stops the run (step and tensor named) or is skipped"

# a real SIGUSR1 from outside: checkpoint and exit 3 within a step
"$TCDIST" synth --docs 30000 --classes 2 --seed 33 -o "$T/big.tsv" >/dev/null
"$TCDIST" prepare -o "$T/big.h5" "$T/big.tsv" >/dev/null
for sig in USR1 TERM; do
  "$TCDIST" train --data "$T/big.h5" --run-dir "$T/live$sig" --epochs 200 --batch 64 --threads 1 --quiet --log-every 20 &
  pid=$!
  for _ in $(seq 100); do [ -s "$T/live$sig/metrics.jsonl" ] && break; sleep 0.1; done
  kill -$sig $pid
  start=$(date +%s%N)
  set +e; wait $pid; rc=$?; set -e
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ $rc -eq 3 ] || fail "SIG$sig: exit $rc, expected 3"
  [ $ms -lt 5000 ] || fail "SIG$sig: took $ms ms to stop"
  [ -s "$T/live$sig/checkpoints/latest" ] || fail "SIG$sig: no checkpoint"
  echo "ok: SIG$sig stopped the run with a checkpoint in $ms ms"
done
# a second SIGINT aborts at once (no checkpoint needed)
"$TCDIST" train --data "$T/big.h5" --run-dir "$T/int" --epochs 200 --batch 64 --threads 1 --quiet --no-checkpoint &
pid=$!
for _ in $(seq 100); do [ -s "$T/int/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT $pid; kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc -eq 130 ] || [ $rc -eq 3 ] || fail "double SIGINT: exit $rc"
echo "ok: double SIGINT ended the run (exit $rc)"
