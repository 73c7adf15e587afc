#!/usr/bin/env bash
# A tune killed with SIGKILL in the middle, then the same command: it trains only the trials not yet
# in trials.jsonl (no id twice), and ends with the trials, metrics and best model of an unbroken run
# (--deterministic). A torn last line of the journal (a kill inside a write) is dropped.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 12000 --classes 3 --seed 9 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
args=(--data "$T/a.h5" --trials 4 --max-epochs 2 --eta 2 --threads 1 --quiet --deterministic)
"$TCDIST" tune "${args[@]}" --run-dir "$T/ref" >/dev/null
n_ref=$(wc -l <"$T/ref/trials.jsonl")

"$TCDIST" tune "${args[@]}" --run-dir "$T/k" >/dev/null 2>&1 &
pid=$!
# kill once two trials are journaled (and the third is running)
for _ in $(seq 600); do [ "$(cat "$T/k/trials.jsonl" 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null || true
n_killed=$(wc -l <"$T/k/trials.jsonl")
[ "$n_killed" -ge 2 ] && [ "$n_killed" -lt "$n_ref" ] || fail "killed with $n_killed of $n_ref trials journaled"
printf '{"id": "c009-r0", "poi' >>"$T/k/trials.jsonl" # a torn line
"$TCDIST" tune "${args[@]}" --run-dir "$T/k" >"$T/out"
grep -q "continuing from trials.jsonl" "$T/out" || fail "the second run did not continue: $(head -1 "$T/out")"
"$PYTHON" - "$T" "$n_killed" <<'PY'
import json, sys
t, n_killed = sys.argv[1], int(sys.argv[2])
def recs(d): return [json.loads(l) for l in open(f"{t}/{d}/trials.jsonl")]
k, ref = recs("k"), recs("ref")
ids = [r["id"] for r in k]
assert len(ids) == len(set(ids)), f"a trial ran twice: {ids}"
key = lambda r: (r["id"], json.dumps(r["config"], sort_keys=True), r["metric"], r["steps"])
assert sorted(map(key, k)) == sorted(map(key, ref)), f"{sorted(map(key, k))}\n{sorted(map(key, ref))}"
print(f"ok: {n_killed} trials kept, {len(k) - n_killed} trained after the kill")
PY
[ "$(sha "$T/k/best")" = "$(sha "$T/ref/best")" ] || fail "best/ differs from the unbroken run's"
# a finished tune run again: nothing to train
"$TCDIST" tune "${args[@]}" --run-dir "$T/k" >/dev/null
[ "$(wc -l <"$T/k/trials.jsonl")" = "$n_ref" ] || fail "a finished tune trained again"
echo "ok: tune resume"
