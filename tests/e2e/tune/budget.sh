#!/usr/bin/env bash
# --budget S: a tune of many short trials ends within S seconds and one step (plus the start and
# the table), and so does one long trial, which stops at a step boundary with a checkpoint; the
# same command again continues that trial instead of starting it over. Under mpirun -np 2 likewise.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 20000 --classes 4 --seed 6 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
# the short trials train on 5,000 documents: several finish in 4 s even in the sanitizer build
# (6-9 there, 41 in Release on a 2-core EPYC; on the 20,000, one trial took 4.2 s under ASan)
"$TCDIST" synth --docs 5000 --classes 4 --seed 6 -o "$T/s.tsv" >/dev/null
"$TCDIST" prepare -o "$T/s.h5" "$T/s.tsv" >/dev/null
args=(--data "$T/s.h5" --trials 100 --threads 1 --budget 4)
elapsed() { "$PYTHON" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$@"; }
t0=$(date +%s.%N)
"$TCDIST" tune "${args[@]}" --run-dir "$T/b" >"$T/out"
t1=$(date +%s.%N)
s=$(elapsed "$t0" "$t1")
echo "--budget 4: $s s"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 4 + 1.5 else 1)' "$s" || fail "--budget 4 took $s s"
n1=$(wc -l <"$T/b/trials.jsonl")
[ "$n1" -ge 1 ] || fail "no trial finished in 4 s"
# one long trial (20 epochs): only the trainer's deadline can keep the budget; the trial stops at a
# step boundary with a checkpoint, no trial finished (exit 1, saying so), and the same command
# without a budget continues the trial from its checkpoint instead of starting it over
long=(--data "$T/a.h5" --trials 1 --min-epochs 20 --max-epochs 20 --patience 20 --threads 1)
t0=$(date +%s.%N)
set +e; "$TCDIST" tune "${long[@]}" --budget 2 --run-dir "$T/l" >"$T/lout" 2>&1; rc=$?; set -e
t1=$(date +%s.%N)
s=$(elapsed "$t0" "$t1")
echo "one long trial, --budget 2: $s s"
[ $rc = 1 ] && grep -q "no trial finished within --budget" "$T/lout" || fail "long trial: exit $rc: $(cat "$T/lout")"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 2 + 1.5 else 1)' "$s" || fail "--budget 2 took $s s"
grep -q "^1 .*c000-r0 .* budget " "$T/lout" || fail "the cut trial is not in the table as budget: $(cat "$T/lout")"
ls "$T/l/trials/c000-r0/checkpoints/"ckpt-* >/dev/null || fail "the cut trial left no checkpoint"
[ ! -s "$T/l/trials.jsonl" ] || fail "the cut trial is in trials.jsonl"
# a trial that started over would reach step 5, where TCDIST_FAULT kills it
TCDIST_FAULT=kill:0:5 "$TCDIST" tune "${long[@]}" --run-dir "$T/l" --quiet >"$T/lout2" 2>&1 ||
  fail "the continued tune failed (did the cut trial start over?): $(tail -3 "$T/lout2")"
"$PYTHON" - "$T/l" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/trials.jsonl")]
assert [r["id"] for r in recs] == ["c000-r0"] and recs[0]["status"] == "done", recs
print("ok: the cut trial went on from its checkpoint to", recs[0]["steps"], "steps")
PY

t0=$(date +%s.%N)
timeout 300 "$MPIRUN" -n 2 "$TCDIST" tune "${args[@]}" --ranks-per-trial 1 --run-dir "$T/m" >"$T/mout"
t1=$(date +%s.%N)
s=$(elapsed "$t0" "$t1")
echo "-np 2, --budget 4: $s s (with mpirun's start)"
"$PYTHON" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 4 + 3 else 1)' "$s" || fail "-np 2 --budget 4 took $s s"
echo "finished trials in 4 s: 1 process $n1, -np 2 $(wc -l <"$T/m/trials.jsonl")"
echo "ok: tune budget"
