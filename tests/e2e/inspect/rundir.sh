#!/usr/bin/env bash
# inspect takes a run dir, as eval and predict do: its model.h5, or before training has finished its
# newest checkpoint; a folder that is neither is refused without calling it "not an HDF5 file".
# And `tcdist` with no command is a usage error (exit 2), with the usage on stderr.
set -uo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$TCDIST" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -eq 2 ] || fail "tcdist with no command exited $rc, want 2"
grep -q "usage: tcdist COMMAND" "$T/err" || fail "tcdist with no command printed no usage on stderr"
[ ! -s "$T/out" ] || fail "tcdist with no command printed to stdout"

"$TCDIST" synth --docs 300 --classes 2 --seed 2 -o "$T/a.tsv" >/dev/null || fail synth
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null || fail prepare
# a run stopped by a signal: checkpoints, no model.h5
TCDIST_FAULT=signal:0:3 "$TCDIST" train --data "$T/a.h5" --run-dir "$T/run" --epochs 2 --batch 32 --quiet; rc=$?
[ $rc -eq 3 ] || fail "the signalled run exited $rc, want 3"
[ ! -e "$T/run/model.h5" ] || fail "a stopped run wrote model.h5"
"$TCDIST" inspect --json "$T/run" > "$T/ck.json" 2> "$T/err" || { cat "$T/err"; fail "inspect of a run dir with checkpoints only"; }
"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format"] == "tcdist-checkpoint" and d["step"] == 4, d' "$T/ck.json" \
  || fail "inspect RUN_DIR did not describe the newest checkpoint"
grep -q "newest checkpoint" "$T/err" || fail "inspect RUN_DIR did not say it shows a checkpoint"
# finished: the model
"$TCDIST" train --data "$T/a.h5" --run-dir "$T/run" --epochs 2 --batch 32 --quiet || fail "resume"
"$TCDIST" inspect --json "$T/run" > "$T/m.json" || fail "inspect of a finished run dir"
"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["format"] == "tcdist-model" and d["model"] == "bow", d' "$T/m.json" \
  || fail "inspect RUN_DIR did not describe its model.h5"
# an empty folder
mkdir "$T/empty"
"$TCDIST" inspect "$T/empty" > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 1 ] || fail "inspect of an empty folder exited $rc, want 1"
grep -q "neither a model.h5 nor checkpoints" "$T/err" || fail "unclear message for an empty folder: $(cat "$T/err")"
grep -q "not an HDF5 file" "$T/err" && fail "a folder was called 'not an HDF5 file'"
echo "ok: inspect takes a run dir; tcdist without a command exits 2"
