#!/usr/bin/env bash
# --loss ova on a single-label corpus (one-hot targets): it trains, eval reports the multi-label
# metrics, predict prints the labels over the threshold, and a checkpoint resumes only with the same
# loss; --loss softmax is refused on a multi-label corpus; --loss auto on a single-label corpus
# is the softmax model of before (no loss in config.json or model.h5).
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$TCDIST" synth --docs 3000 --classes 3 --vocab 3000 --mean-len 30 --seed 7 -o "$T/a.tsv" >/dev/null 2>&1
"$TCDIST" synth --docs 600 --classes 3 --vocab 3000 --mean-len 30 --seed 7 --part 1 -o "$T/v.tsv" >/dev/null 2>&1
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
common=(--data "$T/a.h5" --epochs 2 --batch 64 --lr 0.02 --quiet --threads 1)

"$TCDIST" train "${common[@]}" --run-dir "$T/soft"
"$TCDIST" train "${common[@]}" --run-dir "$T/ova" --loss ova --checkpoint-every 40 --save-init
# the output bias starts at each class's prior log-odds (the rest as the seed says)
"$PYTHON" - "$T/a.h5" "$T/ova/init.h5" "$T/soft/model.h5" <<'PY'
import h5py, numpy as np, sys
y = h5py.File(sys.argv[1])["labels"][()]
p = (np.bincount(y, minlength=3) + 1) / (len(y) + 2)
b = h5py.File(sys.argv[2])["params/out.bias"][()]
assert np.allclose(b, np.log(p / (1 - p)), atol=1e-6), (b, p)
PY
! grep -q '"loss"' "$T/soft/config.json" || fail "config.json of a single-label default run names a loss"
grep -q '"loss": "ova"' "$T/ova/config.json" || fail "config.json of --loss ova does not say ova"
"$PYTHON" - "$T/soft/model.h5" "$T/ova/model.h5" <<'PY'
import h5py, sys
s, o = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert "loss" not in s.attrs, "a softmax model.h5 got a loss attribute"
assert o.attrs["loss"] in (b"ova", "ova")
assert s.attrs["version"] == 2 and o.attrs["version"] == 3, (s.attrs["version"], o.attrs["version"])
assert s["params/out.weight"].shape == o["params/out.weight"].shape == (3, 16)
PY
"$TCDIST" eval --model "$T/ova" --data "$T/v.h5" --json >"$T/ova.json"
"$TCDIST" eval --model "$T/soft" --data "$T/v.h5" --json >"$T/soft.json"
"$PYTHON" - "$T/ova.json" "$T/soft.json" <<'PY'
import json, sys
o, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert o["multi_label"] and o["top_k"] == 3 and "confusion" not in o, o
assert "multi_label" not in s and "confusion" in s, s
# one label per document: P@1 is the accuracy; both losses learn the task
assert o["p_at_1"] > 0.8 and s["accuracy"] > 0.8, (o["p_at_1"], s["accuracy"])
assert abs(o["p_at_1"] - s["accuracy"]) < 0.05, (o["p_at_1"], s["accuracy"])
assert abs(o["r_at_1"] - o["p_at_1"]) < 1e-9 and o["micro_f1"] > 0.7, o
PY
awk -F'\t' 'NR > 1 && NR <= 21 { print $1 }' "$T/v.tsv" >"$T/in.txt"
"$TCDIST" predict --model "$T/ova" --top-k 2 --threshold 0.01 "$T/in.txt" >"$T/p.tsv"
awk -F'\t' 'NF < 2 || NF > 4 || $2 < 0.01 { bad = 1 } END { exit bad }' "$T/p.tsv" || { cat "$T/p.tsv"; fail "predict --top-k 2 --threshold 0.01 of an ova model"; }
"$TCDIST" predict --model "$T/soft" --top-k 3 "$T/in.txt" | awk -F'\t' 'NF != 6 { exit 1 }' || fail "predict --top-k 3 of a softmax model"

# a checkpoint made with --loss ova resumes only under --loss ova (as if the run had been stopped)
rm "$T/ova/model.h5"
if "$TCDIST" train "${common[@]}" --run-dir "$T/ova" --resume --epochs 3 2>"$T/err.txt"; then fail "resumed an ova checkpoint as softmax"; fi
grep -q "trained with the one-vs-all (ova) loss" "$T/err.txt" || { cat "$T/err.txt"; fail "resume message"; }
"$PYTHON" -c 'import h5py,sys,glob; assert all(h5py.File(p).attrs["version"] == 3 for p in glob.glob(sys.argv[1] + "/*.h5"))' \
  "$T/ova/checkpoints" || fail "a one-vs-all checkpoint is not version 3"
"$TCDIST" train "${common[@]}" --run-dir "$T/ova" --resume --epochs 3 --loss ova

# a multi-label corpus refuses --loss softmax
printf '__label__a __label__b x y\n__label__b z w\n__label__a q\n' >"$T/m.ft"
"$TCDIST" prepare -o "$T/m.h5" "$T/m.ft" >/dev/null
if "$TCDIST" train --data "$T/m.h5" --run-dir "$T/m" --loss softmax --quiet 2>"$T/err.txt"; then fail "softmax on multi-label"; fi
grep -q -- "--loss softmax: --data .*m.h5 is multi-label" "$T/err.txt" || { cat "$T/err.txt"; fail "softmax message"; }
"$TCDIST" train --data "$T/m.h5" --run-dir "$T/m" --quiet --epochs 1
grep -q '"loss": "ova"' "$T/m/config.json" || fail "auto did not pick ova for a multi-label corpus"
echo "ok: --loss ova on single-label data, resume checks the loss, softmax refused on multi-label data"
