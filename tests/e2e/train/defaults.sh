#!/usr/bin/env bash
# Defaults that depend on the corpus (docs/training.md#defaults): --batch, --epochs and --lr left
# out come from the training documents and classes (batch 192, smaller below 23,040 documents, at
# least 32; at least 600 steps, 5-25 epochs; lr raised in proportion below 600 x log2(classes)
# steps, at most 0.1, and lowered in proportion above 3,250 steps), the bag model's --hidden from
# the classes (16 for two, 0 for more);
# config.json and model.h5 show the values used and what the rule set; given flags win; the rule
# counts the documents left after --valid-split; other model kinds keep batch 192, 5 epochs and
# 0.004; a run stopped and resumed ends with the parameters of an uninterrupted one.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1000 --classes 4 --mean-len 12 --seed 71 -o "$T/small.tsv" >/dev/null
"$TCDIST" prepare -o "$T/small.h5" "$T/small.tsv" >/dev/null
"$TCDIST" synth --docs 1000 --classes 2 --mean-len 12 --seed 73 -o "$T/two.tsv" >/dev/null
"$TCDIST" prepare -o "$T/two.h5" "$T/two.tsv" >/dev/null
"$TCDIST" synth --docs 24000 --classes 2 --mean-len 4 --vocab 2000 --seed 72 -o "$T/big.tsv" >/dev/null
"$TCDIST" prepare -o "$T/big.h5" "$T/big.tsv" >/dev/null
q=(--quiet --threads 1 --no-checkpoint)

# check RUN BATCH EPOCHS LR HIDDEN SET STEPS: config.json, model.h5 and summary.json agree with the rule
check() {
  "$PYTHON" - "$@" <<'PY'
import json, sys, h5py
d, batch, epochs, lr, hidden, rule_set, steps = sys.argv[1:8]
c = json.load(open(d + "/config.json"))
got = (c["batch"], c["epochs"], round(c["lr"], 9), c["hidden"], c["model_config"]["hidden"])
want = (int(batch), int(epochs), round(float(lr), 9), int(hidden), int(hidden))
assert got == want, f"{d}: config.json batch, epochs, lr, hidden = {got}, expected {want}"
have = ",".join(c["corpus_rule"]["set"]) if "corpus_rule" in c else "-"
assert have == rule_set, f"{d}: corpus_rule.set = {have}, expected {rule_set}"
with h5py.File(d + "/model.h5") as f:
    mc = json.loads(f.attrs["model_config"])
    assert mc["hidden"] == int(hidden), f"{d}/model.h5: model_config {mc}"
    assert ("hidden.weight" in f["params"]) == (int(hidden) > 0), f"{d}/model.h5: tensors {list(f['params'])}"
s = json.load(open(d + "/summary.json"))
assert s["steps"] == int(steps), f"{d}: {s['steps']} steps, expected {steps}"
PY
}

# 1000 documents, 4 classes: batch 1000 x 5 / 600 = 8 -> at least 32, 32 steps an epoch -> 19
# epochs (608 steps), lr 0.004 x 600 x log2(4) / 608
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small" "${q[@]}"
check "$T/small" 32 19 0.00789473684 0 batch,epochs,lr 608
# 1000 documents, 2 classes: the same batch and epochs, and 608 steps >= 600: lr 0.004
"$TCDIST" train --data "$T/two.h5" --run-dir "$T/two" "${q[@]}"
check "$T/two" 32 19 0.004 16 batch,epochs,lr 608
# --epochs given: 32 steps would want lr 0.15, capped at 0.1
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-e1" --epochs 1 "${q[@]}"
check "$T/small-e1" 32 1 0.1 0 batch,lr 32
# --batch given: 6 steps an epoch -> 25 epochs (150 steps), lr 0.004 x 1200 / 150
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-b192" --batch 192 "${q[@]}"
check "$T/small-b192" 192 25 0.032 0 epochs,lr 150
# every flag given: the rule sets nothing
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-all" --batch 192 --epochs 2 --lr 0.01 --hidden 8 "${q[@]}"
check "$T/small-all" 192 2 0.01 8 - 12
# --hidden auto is the default spelled out
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-auto" --hidden auto "${q[@]}"
[ "$(sha "$T/small-auto")" = "$(sha "$T/small")" ] || fail "--hidden auto differs from the default"
# the rule counts the training documents left after --valid-split
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/split" --valid-split 0.5 "${q[@]}"
"$PYTHON" - "$T/split" <<'PY'
import json, math, sys
c = json.load(open(sys.argv[1] + "/config.json"))
held = len(open(sys.argv[1] + "/valid_split.txt").read().split())
docs = 1000 - held
batch = min(192, max(32, docs * 5 // 600 // 8 * 8))
spe = math.ceil(docs / batch)
epochs = min(25, max(5, math.ceil(600 / spe)))
assert c["corpus_rule"]["train_docs"] == docs and c["corpus_rule"]["steps_per_epoch"] == spe, c["corpus_rule"]
assert (c["batch"], c["epochs"]) == (batch, epochs), (c["batch"], c["epochs"], batch, epochs)
assert abs(c["lr"] - min(0.1, 0.004 * 600 * 2 / (epochs * spe))) < 1e-9, c["lr"]
PY
# 24,000 documents, 2 classes: batch 192, 125 steps an epoch -> 5 epochs, lr 0.004, hidden 16 (the
# old defaults)
"$TCDIST" train --data "$T/big.h5" --run-dir "$T/big" "${q[@]}"
check "$T/big" 192 5 0.004 16 batch,epochs,lr 625
# a long run: --batch 32 on 24,000 documents is 750 steps an epoch, 5 epochs, 3,750 steps: lr x
# steps held at 0.004 x 3,250, lr 0.004 x 3,250 / 3,750
"$TCDIST" train --data "$T/big.h5" --run-dir "$T/long" --batch 32 "${q[@]}"
check "$T/long" 32 5 0.00346666667 16 epochs,lr 3750
# 50 classes and as long a run: the lower bound of lr x steps (0.004 x 600 x log2(50) = 13.5)
# is above 13 and wins: 1000 documents, batch 32, 110 epochs, 3,520 steps
"$TCDIST" synth --docs 1000 --classes 50 --mean-len 4 --seed 74 -o "$T/c50.tsv" >/dev/null
"$TCDIST" prepare -o "$T/c50.h5" "$T/c50.tsv" >/dev/null
"$TCDIST" train --data "$T/c50.h5" --run-dir "$T/c50" --epochs 110 "${q[@]}"
check "$T/c50" 32 110 "$("$PYTHON" -c 'import math; print(0.004 * 600 * math.log2(50) / 3520)')" 0 batch,lr 3520
# another model kind: batch 192, 5 epochs and 0.004 whatever the corpus
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/cnn" --model cnn --dim 8 --filters 4 --widths 2,3 "${q[@]}"
"$PYTHON" - "$T/cnn" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
assert (c["batch"], c["epochs"], c["lr"], "corpus_rule" in c) == (192, 5, 0.004, False), (c["batch"], c["epochs"], c["lr"], c.get("corpus_rule"))
PY
# resumed after a SIGKILL at step 97 of 608: the parameters of the uninterrupted run
set +e
TCDIST_FAULT=kill:0:97 "$TCDIST" train --data "$T/small.h5" --run-dir "$T/killed" --quiet --threads 1 \
  --checkpoint-every 10 >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 137 ] || fail "the killed run exited $rc, expected 137"
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/killed" --resume --quiet --threads 1 --checkpoint-every 10
[ "$(sha "$T/killed")" = "$(sha "$T/small")" ] || fail "resumed run differs from the uninterrupted one"
# a checkpoint whose run began with other values (an older tcdist's defaults, or flags left out on
# the second call) continues with them, saying so: here begun with --batch 192 --epochs 25 --lr 0.01
# under --deterministic, killed at step 40, and resumed with no flags, also at -np 2
explicit=(--batch 192 --epochs 25 --lr 0.01 --deterministic)
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/explicit" "${explicit[@]}" "${q[@]}"
for np in 1 2; do
  set +e
  TCDIST_FAULT=kill:0:40 "$TCDIST" train --data "$T/small.h5" --run-dir "$T/kept$np" "${explicit[@]}" --quiet \
    --threads 1 --checkpoint-every 10 >/dev/null 2>&1
  rc=$?
  set -e
  [ $rc -eq 137 ] || fail "the killed run exited $rc, expected 137"
  if [ "$np" = 1 ]; then
    "$TCDIST" train --data "$T/small.h5" --run-dir "$T/kept1" --deterministic --threads 1 --quiet 2> "$T/kept1.err"
  else
    mpi 2 --data "$T/small.h5" --run-dir "$T/kept2" --deterministic --threads 1 --quiet 2> "$T/kept2.err"
  fi
  grep -q -- "--batch 192 --epochs 25 --lr 0.01 as in the checkpoint (the corpus rule now gives --batch 32 --epochs 19" \
    "$T/kept$np.err" || fail "-np $np: the resume does not say it keeps the checkpoint's values: $(cat "$T/kept$np.err")"
  [ "$(sha "$T/kept$np")" = "$(sha "$T/explicit")" ] || fail "-np $np: resumed without the flags, the run differs"
done
# the start line says what the rule chose
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/said" --threads 1 --no-checkpoint --max-steps 1 > "$T/said.out"
grep -q -- "--batch, --epochs and --lr from the corpus rule (1000 training documents, 4 classes, 32 steps/epoch" "$T/said.out" ||
  fail "the start line does not name the corpus rule: $(head -3 "$T/said.out")"
# bad values are usage errors
set +e
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/bad" --hidden -1 "${q[@]}" 2> "$T/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--hidden" "$T/bad.err" || fail "--hidden -1: exit $rc, $(cat "$T/bad.err")"
echo "ok: corpus-dependent defaults"
