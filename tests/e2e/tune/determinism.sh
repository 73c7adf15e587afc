#!/usr/bin/env bash
# The same command twice with --deterministic: the same trials (ids, configs, metrics, steps); another
# seed: other points.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 800 --classes 3 --seed 8 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
args=(--data "$T/a.h5" --trials 5 --max-epochs 3 --threads 1 --quiet --deterministic)
"$TCDIST" tune "${args[@]}" --run-dir "$T/a" >/dev/null
"$TCDIST" tune "${args[@]}" --run-dir "$T/b" >/dev/null
"$TCDIST" tune "${args[@]}" --seed 2 --run-dir "$T/c" >/dev/null
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def L(d):
    return sorted((r["id"], json.dumps(r["config"], sort_keys=True), r["metric"], r["steps"], r["status"])
                  for r in map(json.loads, open(f"{t}/{d}/trials.jsonl")))
a, b, c = L("a"), L("b"), L("c")
assert a == b, f"two runs differ:\n{a}\n{b}"
assert [x[1] for x in a if x[0].endswith("-r0")] != [x[1] for x in c if x[0].endswith("-r0")], "--seed 2 gave the same points"
print("ok:", len(a), "trials alike")
PY
[ "$(sha "$T/a/best")" = "$(sha "$T/b/best")" ] || fail "best/ differs"
echo "ok: tune determinism"
