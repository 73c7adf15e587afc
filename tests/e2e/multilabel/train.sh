#!/usr/bin/env bash
# Multi-label end to end: synth --labels-per-doc 2, prepare, train (the one-vs-all loss chosen by
# itself), eval (P@1, P@k, micro-F1 far above chance), predict --threshold/--top-k, and the same
# model under mpirun -np 2 (default mode: close; --deterministic: bit-identical for any -np and
# thread count; distributed validation counts every document once).
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 6000 --classes 6 --labels-per-doc 2 --vocab 4000 --mean-len 30 --seed 5 --signal 0.3 --format fasttext \
  -o "$T/train.ft" >/dev/null 2>&1
"$TCDIST" synth --docs 1000 --classes 6 --labels-per-doc 2 --vocab 4000 --mean-len 30 --seed 5 --signal 0.3 --part 1 \
  --format fasttext -o "$T/test.ft" >/dev/null 2>&1
[ "$(head -1 "$T/train.ft" | grep -o '__label__' | wc -l)" = 2 ] || fail "synth --labels-per-doc 2: not 2 labels a line"
"$TCDIST" prepare -o "$T/train.h5" "$T/train.ft" >/dev/null
"$TCDIST" prepare --vocab "$T/train.h5" -o "$T/test.h5" "$T/test.ft" >/dev/null
common=(--data "$T/train.h5" --valid "$T/test.h5" --epochs 3 --batch 64 --lr 0.02 --quiet)

"$TCDIST" train "${common[@]}" --run-dir "$T/run" --threads 2
grep -q '"loss": "ova"' "$T/run/config.json" || fail "config.json does not say loss ova"
"$PYTHON" -c 'import h5py,sys; assert h5py.File(sys.argv[1]).attrs["loss"] in (b"ova", "ova")' "$T/run/model.h5" \
  || fail "model.h5 has no loss=ova attribute"
"$TCDIST" eval --model "$T/run" --data "$T/test.h5" --json >"$T/eval.json"
"$PYTHON" - "$T/eval.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
# chance: 2 of 6 labels; predicting every class gives micro-F1 0.5, two at random 0.33, P@1 0.33
assert e["multi_label"] and e["top_k"] == 5 and e["threshold"] == 0.5, e
assert e["micro_f1"] > 0.78, f"micro-F1 {e['micro_f1']} is not far above chance (0.5)"
assert e["p_at_1"] > 0.88 and e["r_at_k"] > 0.93 and e["macro_f1"] > 0.78, e
assert abs(e["labels_per_doc"] - 2) < 1e-9 and len(e["classes"]) == 6, e
assert all(c["support"] > 200 for c in e["classes"]), e["classes"]
print(f"micro-F1 {e['micro_f1']:.3f}, macro-F1 {e['macro_f1']:.3f}, P@1 {e['p_at_1']:.3f}, R@5 {e['r_at_k']:.3f}")
PY
"$TCDIST" eval --model "$T/run" --data "$T/test.h5" --threshold 0.3 --top-k 2 >"$T/eval.txt"
for k in "threshold  0.3" "P@1 " "R@1 " "P@2 " "R@2 " "micro-F1" "macro-F1"; do
  grep -q "^$k" "$T/eval.txt" || { cat "$T/eval.txt"; fail "eval text output lacks '$k'"; }
done

# predict: the labels at or above the threshold, most probable first, at most --top-k
head -50 "$T/test.ft" | cut -d" " -f3- >"$T/in.txt"
"$TCDIST" predict --model "$T/run" --json "$T/in.txt" >"$T/p.jsonl"
"$TCDIST" predict --model "$T/run" --json --threshold 0.2 --top-k 2 "$T/in.txt" >"$T/p2.jsonl"
"$TCDIST" predict --model "$T/run" --threshold 0.2 --top-k 2 "$T/in.txt" >"$T/p2.tsv"
"$PYTHON" - "$T/p.jsonl" "$T/p2.jsonl" "$T/p2.tsv" "$T/test.ft" <<'PY'
import json, sys
gold = [set(w[9:] for w in l.split() if w.startswith("__label__")) for l in open(sys.argv[4])][:50]
for path, thr, k in ((sys.argv[1], 0.5, 6), (sys.argv[2], 0.2, 2)):
    recs = [json.loads(l) for l in open(path)]
    assert len(recs) == 50
    hit = n = 0
    for r, g in zip(recs, gold):
        p = [x["prob"] for x in r["labels"]]
        assert len(p) <= k and all(x >= thr for x in p) and p == sorted(p, reverse=True), (path, r)
        hit += len(g & {x["label"] for x in r["labels"]})
        n += len(r["labels"])
    assert n > 40 and hit / n > 0.8, (path, hit, n)
tsv = [l.rstrip("\n").split("\t") for l in open(sys.argv[3])]
js = [json.loads(l) for l in open(sys.argv[2])]
assert [t[0::2] if t != [""] else [] for t in tsv] == [[x["label"] for x in r["labels"]] for r in js]
PY
"$TCDIST" predict --model "$T/run" --data "$T/test.h5" -o "$T/pc.jsonl" --top-k 3 --quiet
head -1 "$T/pc.jsonl" | grep -q '"labels": \[' || fail "predict --data of a one-vs-all model has no labels list"

# under MPI: the same model
mpi 2 "${common[@]}" --run-dir "$T/np2" --threads 1
close "$T/np2" "$T/run" 1e-5
"$TCDIST" train "${common[@]}" --run-dir "$T/det1" --threads 1 --deterministic
"$TCDIST" train "${common[@]}" --run-dir "$T/det1t2" --threads 2 --deterministic
mpi 2 "${common[@]}" --run-dir "$T/det2" --threads 1 --deterministic
[ "$(sha "$T/det1t2")" = "$(sha "$T/det1")" ] || fail "deterministic: 2 threads differ from 1"
[ "$(sha "$T/det2")" = "$(sha "$T/det1")" ] || fail "deterministic: -np 2 differs from one process"
# streamed (--max-memory below the corpus) and with a held-out split and early stopping on macro-F1
mpi 2 "${common[@]}" --run-dir "$T/det2s" --threads 1 --deterministic --max-memory 0.2
"$TCDIST" train "${common[@]}" --run-dir "$T/det1s" --threads 2 --deterministic --max-memory 0.2
[ "$(sha "$T/det2s")" = "$(sha "$T/det1s")" ] || fail "deterministic streaming: -np 2 differs from one process"
"$TCDIST" train --data "$T/train.h5" --valid-split 0.1 --early-stop 2 --valid-metric macro_f1 --valid-every 40 \
  --epochs 3 --batch 64 --lr 0.02 --quiet --threads 2 --run-dir "$T/es"
grep -q '"best_macro_f1": 0\.[5-9]' "$T/es/summary.json" || { cat "$T/es/summary.json"; fail "early stop on macro-F1"; }
# distributed validation: hits@1 of the last evaluation equals eval's P@1 x documents
"$TCDIST" eval --model "$T/det2" --data "$T/test.h5" --json >"$T/eval2.json"
"$PYTHON" - "$T/det2/metrics.jsonl" "$T/eval2.json" <<'PY'
import json, sys
v = [json.loads(l) for l in open(sys.argv[1]) if '"valid"' in l][-1]
e = json.load(open(sys.argv[2]))
assert v["n_docs"] == e["n_docs"] == 1000, (v, e)
assert v["correct"] == round(e["p_at_1"] * e["n_docs"]), (v, e)
assert abs(v["loss"] - e["loss"]) < 1e-4, (v, e)
PY
echo "ok: multi-label synth -> prepare -> train (ova) -> eval/predict; -np 2 and --deterministic agree"
