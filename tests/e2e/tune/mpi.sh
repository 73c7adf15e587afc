#!/usr/bin/env bash
# mpirun -np 2: --ranks-per-trial 1 makes two groups that train trials side by side (both groups
# train some), --ranks-per-trial 2 one group training each trial data-parallel; with
# --deterministic both give the trials and the best model of a single process.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 800 --classes 3 --seed 12 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
args=(--data "$T/a.h5" --trials 6 --max-epochs 3 --threads 1 --deterministic)
"$TCDIST" tune "${args[@]}" --run-dir "$T/one" >"$T/one.out"
timeout 300 "$MPIRUN" -n 2 "$TCDIST" tune "${args[@]}" --ranks-per-trial 1 --run-dir "$T/g1" >"$T/g1.out"
timeout 300 "$MPIRUN" -n 2 "$TCDIST" tune "${args[@]}" --ranks-per-trial 2 --run-dir "$T/g2" >"$T/g2.out"
grep -q "2 group(s) of 1 rank(s)" "$T/g1.out" || fail "-np 2 --ranks-per-trial 1: $(head -1 "$T/g1.out")"
grep -q "1 group(s) of 2 rank(s)" "$T/g2.out" || fail "-np 2 --ranks-per-trial 2: $(head -1 "$T/g2.out")"
for g in 0 1; do grep -q "^trial .* group $g:" "$T/g1.out" || fail "group $g trained nothing"; done
[ "$(grep -c '^best:' "$T/g1.out")" = 1 ] || fail "the table is printed more than once"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def L(d):
    return sorted((r["id"], json.dumps(r["config"], sort_keys=True), r["metric"], r["steps"])
                  for r in map(json.loads, open(f"{t}/{d}/trials.jsonl")))
one = L("one")
for d in ("g1", "g2"):
    assert L(d) == one, f"{d}:\n{L(d)}\n{one}"
print("ok:", len(one), "trials alike")
PY
for d in g1 g2; do [ "$(sha "$T/$d/best")" = "$(sha "$T/one/best")" ] || fail "$d: best/ differs"; done
echo "ok: tune mpi"
