#!/usr/bin/env bash
# eval and predict through the binary: eval's accuracy equals train's validation accuracy and its own
# confusion matrix; predict tokenizes raw text with the model's vocabulary, agrees with eval on the
# same documents, reports a bad line by file:line and still predicts the others.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$TCDIST" synth --docs 4000 --classes 4 --seed 5 -o "$T/train.tsv" >/dev/null
"$TCDIST" synth --docs 500 --classes 4 --seed 5 --part 1 -o "$T/test.tsv" >/dev/null
"$TCDIST" prepare --format tsv -o "$T/train.h5" "$T/train.tsv" >/dev/null
"$TCDIST" prepare --format tsv --vocab "$T/train.h5" -o "$T/test.h5" "$T/test.tsv" >/dev/null
"$TCDIST" train --data "$T/train.h5" --valid "$T/test.h5" --run-dir "$T/run" --epochs 3 --quiet
"$TCDIST" eval --model "$T/run" --data "$T/test.h5" --json >"$T/eval.json"
"$TCDIST" eval --model "$T/run/model.h5" --data "$T/test.h5" >"$T/eval.txt"
"$TCDIST" inspect "$T/run/model.h5" --json >"$T/inspect.json"
"$TCDIST" inspect "$T/run/model.h5" | grep -q "^tensors *embedding"
grep -q "confusion matrix" "$T/eval.txt"
tail -n +2 "$T/test.tsv" | cut -f1 >"$T/text.txt"
tail -n +2 "$T/test.tsv" | cut -f2 >"$T/gold.txt"
"$TCDIST" predict --model "$T/run" "$T/text.txt" >"$T/pred.txt"
"$TCDIST" predict --model "$T/run" --top-k 3 --json <"$T/text.txt" >"$T/pred.jsonl"
# a file with a bad line (invalid UTF-8) and an empty line between good ones
{ head -n 2 "$T/text.txt"; printf 'bad \xff line\n\n'; head -n 1 "$T/text.txt"; } >"$T/mixed.txt"
set +e
"$TCDIST" predict --model "$T/run" "$T/mixed.txt" >"$T/mixed.out" 2>"$T/mixed.err"; rc=$?
set -e
[ $rc -ne 0 ] || { echo "FAIL: predict with bad lines exited 0"; exit 1; }
grep -q "mixed.txt:3: invalid UTF-8" "$T/mixed.err" || { cat "$T/mixed.err"; echo "FAIL: no file:line for the bad line"; exit 1; }
grep -q "mixed.txt:4: empty" "$T/mixed.err" || { cat "$T/mixed.err"; echo "FAIL: no file:line for the empty line"; exit 1; }
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
ev = json.load(open(f"{t}/eval.json"))
ins = json.load(open(f"{t}/inspect.json"))
assert ins["format"] == "tcdist-model" and ins["n_classes"] == 4 and ins["labels"] == ["0", "1", "2", "3"], ins
assert ins["params_sha256"] == json.load(open(f"{t}/run/summary.json"))["params_sha256"]
assert ins["config"]["epochs"] == 3 and ins["n_params"] == sum(x["rows"] * x["cols"] for x in ins["tensors"])
summ = json.load(open(f"{t}/run/summary.json"))
assert ev["n_docs"] == 500, ev["n_docs"]
assert abs(ev["accuracy"] - summ["valid_accuracy"]) < 1e-9, (ev["accuracy"], summ["valid_accuracy"])
conf = ev["confusion"]
assert sum(map(sum, conf)) == 500
assert abs(sum(conf[i][i] for i in range(4)) / 500 - ev["accuracy"]) < 1e-9
assert ev["accuracy"] > 0.6, f"accuracy {ev['accuracy']} too low for an easy synthetic corpus"
for c in ev["classes"]:
    assert 0 <= c["f1"] <= 1 and c["support"] == sum(conf[c["id"]])
gold = open(f"{t}/gold.txt").read().split()
pred = [l.split("\t") for l in open(f"{t}/pred.txt").read().splitlines()]
assert len(pred) == 500
acc = sum(p[0] == g for p, g in zip(pred, gold)) / 500
assert abs(acc - ev["accuracy"]) < 1e-9, f"predict accuracy {acc} != eval accuracy {ev['accuracy']}"
recs = [json.loads(l) for l in open(f"{t}/pred.jsonl")]
assert len(recs) == 500 and all(len(r["top"]) == 3 for r in recs)
for r, p in zip(recs, pred):
    assert r["label"] == p[0] == r["top"][0]["label"]
    probs = [x["prob"] for x in r["top"]]
    assert probs == sorted(probs, reverse=True) and probs[0] <= 1
mixed = open(f"{t}/mixed.out").read().split("\n")
assert mixed[2] == "" and mixed[3] == "" and mixed[4] != "", mixed  # outputs stay aligned with inputs
print(f"ok: eval accuracy {ev['accuracy']:.4f} == train's valid accuracy == predict's; bad lines reported")
PY
