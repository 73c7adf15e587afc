#!/usr/bin/env bash
# The same model for any number of ranks: -np 1, 2, 3, 4 (and 8, oversubscribed) against single-node
# mode. Default mode: parameters within 1e-5; --deterministic: byte-identical parameters for every
# rank count and thread count. The batch (50) is not divided by 3, 4 or 8, and the corpus (1003
# documents) does not divide into batches. Distributed validation counts every document once.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1003 --classes 3 --seed 11 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 301 --classes 3 --seed 11 --part 1 -o "$T/v.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 3000 -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
common=(--data "$T/a.h5" --valid "$T/v.h5" --epochs 2 --batch 50 --hidden 8 --quiet --log-every 5)

"$TCDIST" train "${common[@]}" --run-dir "$T/single" --threads 1
"$TCDIST" train "${common[@]}" --run-dir "$T/single_det" --threads 1 --deterministic
"$TCDIST" train "${common[@]}" --run-dir "$T/single_det_t2" --threads 2 --deterministic
[ "$(sha "$T/single_det_t2")" = "$(sha "$T/single_det")" ] || fail "deterministic: 2 threads differ from 1"
ref=$(sha "$T/single_det")
for n in 1 2 3 4 8; do
  mpi $n "${common[@]}" --run-dir "$T/np$n" --threads 1 --check-replicas 7
  close "$T/np$n" "$T/single" 1e-5
  mpi $n "${common[@]}" --run-dir "$T/np${n}_det" --threads 1 --deterministic
  [ "$(sha "$T/np${n}_det")" = "$ref" ] || fail "deterministic: -np $n differs from single-node mode"
done
mpi 1 "${common[@]}" --run-dir "$T/np1_same" --threads 1
[ "$(sha "$T/np1_same")" = "$(sha "$T/single")" ] || fail "-np 1 differs from single-node mode"
mpi 2 "${common[@]}" --run-dir "$T/np2_det_t2" --threads 2 --deterministic
[ "$(sha "$T/np2_det_t2")" = "$ref" ] || fail "deterministic: -np 2 x 2 threads differs"

# distributed validation: the same counts for every rank count, equal to eval of the same model
"$TCDIST" eval --model "$T/single_det" --data "$T/v.h5" --json >"$T/eval.json"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
ev = json.load(open(f"{t}/eval.json"))
correct = sum(ev["confusion"][i][i] for i in range(3))
def valid(d): return [(r["n_docs"], r["correct"]) for r in map(json.loads, open(f"{t}/{d}/metrics.jsonl")) if r["type"] == "valid"]
base = valid("single_det")
assert base[-1] == (301, correct), (base, correct)
for n in (1, 2, 3, 4, 8):
    assert valid(f"np{n}_det") == base, (n, valid(f"np{n}_det"), base)
ranks = [r for r in map(json.loads, open(f"{t}/np3/metrics.jsonl")) if r["type"] == "ranks"]
assert ranks and all(len(r["ranks"]) == 3 for r in ranks)
docs = sum(x["docs"] for r in ranks for x in r["ranks"])
assert docs == 2 * 1003, f"the ranks processed {docs} documents, expected 2 epochs x 1003 (no duplicates, none missing)"
print("ok: -np 1,2,3,4,8 agree with single-node mode; --deterministic is byte-identical; validation counts once")
PY
