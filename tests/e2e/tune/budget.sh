#!/usr/bin/env bash
# --budget S: a tune of many trials ends within S seconds and one step (plus the start and the
# table), the trial that was running stops at a step boundary with a checkpoint, and the same
# command again continues that trial instead of starting it over. Under mpirun -np 2 likewise.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 20000 --classes 4 --seed 6 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
args=(--data "$T/a.h5" --trials 100 --threads 1 --budget 4)
elapsed() { "$PYTHON" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$@"; }
t0=$(date +%s.%N)
"$TCDIST" tune "${args[@]}" --run-dir "$T/b" >"$T/out"
t1=$(date +%s.%N)
s=$(elapsed "$t0" "$t1")
echo "--budget 4: $s s"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 4 + 1.5 else 1)' "$s" || fail "--budget 4 took $s s"
n1=$(wc -l <"$T/b/trials.jsonl")
[ "$n1" -ge 1 ] || fail "no trial finished in 4 s"
# the trial running at the deadline (none when it fell between two trials) goes on from its checkpoint
cut=$(grep "^[0-9].* budget " "$T/out" | awk '{print $2}' || true)
if [ -n "$cut" ]; then
  ls "$T/b/trials/$cut/checkpoints/"ckpt-* >/dev/null || fail "the cut trial $cut left no checkpoint"
  grep -q "\"$cut\"" "$T/b/trials.jsonl" && fail "the cut trial $cut is in trials.jsonl"
  steps=$(grep "^[0-9].* budget " "$T/out" | awk '{print $6}')
  "$TCDIST" tune "${args[@]}" --run-dir "$T/b" >"$T/out2"
  grep -q "\"id\": \"$cut\"" "$T/b/trials.jsonl" || fail "the cut trial $cut did not finish in the second run"
  "$PYTHON" - "$T/b" "$cut" "$steps" <<'PY'
import json, sys
d, cut, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = [json.loads(l) for l in open(f"{d}/trials/{cut}/metrics.jsonl")]
starts = [r for r in m if r.get("type") == "train" and r.get("step") == 1]
assert len(starts) <= 1, "the cut trial started over"
PY
else
  echo "(the deadline fell between two trials: no trial was cut)"
fi
"$PYTHON" - "$T/b" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1] + "/trials.jsonl")]
assert len(ids) == len(set(ids)), ids
PY

t0=$(date +%s.%N)
timeout 300 "$MPIRUN" -n 2 "$TCDIST" tune "${args[@]}" --ranks-per-trial 1 --run-dir "$T/m" >"$T/mout"
t1=$(date +%s.%N)
s=$(elapsed "$t0" "$t1")
echo "-np 2, --budget 4: $s s (with mpirun's start)"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 4 + 3 else 1)' "$s" || fail "-np 2 --budget 4 took $s s"
echo "finished trials in 4 s: 1 process $n1, -np 2 $(wc -l <"$T/m/trials.jsonl")"
echo "ok: tune budget"
