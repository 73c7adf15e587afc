#!/usr/bin/env bash
# Bit-exact resume: runs stopped at random steps, by SIGUSR1 (fault injection sends it to the rank
# itself) and by SIGKILL (then resumed from the last checkpoint), finish with the parameters of an
# uninterrupted run, byte for byte: single node, -np 2, and across rank counts with --deterministic.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1500 --classes 3 --seed 21 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
common=(--data "$T/a.h5" --epochs 3 --batch 40 --hidden 8 --quiet --threads 1 --checkpoint-every 5)
steps=$((3 * 38))
RANDOM=${TCDIST_TEST_SEED:-7}
pick() { echo $(( (RANDOM % (steps - 4)) + 2 )); }
# a SIGKILL must come after the first checkpoint (every 5 steps) for --resume to have one
pick_kill() { echo $(( (RANDOM % (steps - 10)) + 6 )); }
# run EXPECTED_RC -- command...
run() { local want=$1; shift 2; set +e; "$@"; local rc=$?; set -e; [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want"; }

"$TCDIST" train "${common[@]}" --run-dir "$T/full"
ref=$(sha "$T/full")
for trial in 1 2 3; do
  S=$(pick)
  run 3 -- env TCDIST_FAULT=signal:0:$S "$TCDIST" train "${common[@]}" --run-dir "$T/sig$trial"
  [ ! -e "$T/sig$trial/model.h5" ] || fail "a stopped run wrote model.h5"
  "$TCDIST" train "${common[@]}" --run-dir "$T/sig$trial"
  [ "$(sha "$T/sig$trial")" = "$ref" ] || fail "signal at step $S: resumed run differs"
  S=$(pick_kill)
  run 137 -- env TCDIST_FAULT=kill:0:$S "$TCDIST" train "${common[@]}" --run-dir "$T/kill$trial"
  "$TCDIST" train "${common[@]}" --run-dir "$T/kill$trial" --resume
  [ "$(sha "$T/kill$trial")" = "$ref" ] || fail "SIGKILL at step $S: resumed run differs"
  echo "ok: single node, stopped at step $S (signal and SIGKILL), resumed bit-exactly"
done

mpi 2 "${common[@]}" --run-dir "$T/full2"
ref2=$(sha "$T/full2")
S=$(pick)
run 3 -- env TCDIST_FAULT=signal:1:$S timeout 300 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/np2sig"
mpi 2 "${common[@]}" --run-dir "$T/np2sig"
[ "$(sha "$T/np2sig")" = "$ref2" ] || fail "-np 2, signal on rank 1 at step $S: resumed run differs"
S=$(pick_kill)
set +e
TCDIST_FAULT=kill:1:$S timeout 300 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/np2kill" >/dev/null 2>&1
set -e
mpi 2 "${common[@]}" --run-dir "$T/np2kill"
[ "$(sha "$T/np2kill")" = "$ref2" ] || fail "-np 2, rank 1 killed at step $S: resumed run differs"
echo "ok: -np 2, stopped by signal and by SIGKILL, resumed bit-exactly"

# a different number of ranks on resume: bit-identical with --deterministic
"$TCDIST" train "${common[@]}" --run-dir "$T/full_det" --deterministic
S=$(pick)
run 3 -- env TCDIST_FAULT=signal:0:$S timeout 300 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/np" --deterministic
mpi 3 "${common[@]}" --run-dir "$T/np" --deterministic
[ "$(sha "$T/np")" = "$(sha "$T/full_det")" ] || fail "stopped under -np 2, resumed under -np 3: differs"
echo "ok: stopped with -np 2 at step $S, resumed with -np 3 (--deterministic): bit-identical"
