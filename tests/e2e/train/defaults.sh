#!/usr/bin/env bash
# Defaults that depend on the corpus (docs/training.md#defaults): --epochs and --lr left out come
# from the training documents (at least 600 steps, 5-25 epochs, lr raised in proportion below
# 600 steps, at most 0.1), the bag model's --hidden from the classes (16 for two, 0 for more);
# config.json and model.h5 show the values used and what the rule set; given flags win; the rule
# counts the documents left after --valid-split; other model kinds keep 5 epochs and 0.004; a run
# stopped and resumed ends with the parameters of an uninterrupted one.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1000 --classes 4 --mean-len 12 --seed 71 -o "$T/small.tsv" >/dev/null
"$TCDIST" prepare -o "$T/small.h5" "$T/small.tsv" >/dev/null
"$TCDIST" synth --docs 24000 --classes 2 --mean-len 4 --vocab 2000 --seed 72 -o "$T/big.tsv" >/dev/null
"$TCDIST" prepare -o "$T/big.h5" "$T/big.tsv" >/dev/null
q=(--quiet --threads 1 --no-checkpoint)

# check RUN EPOCHS LR HIDDEN SET STEPS: config.json, model.h5 and summary.json agree with the rule
check() {
  "$PYTHON" - "$@" <<'PY'
import json, sys, h5py
d, epochs, lr, hidden, rule_set, steps = sys.argv[1:7]
c = json.load(open(d + "/config.json"))
got = (c["epochs"], round(c["lr"], 9), c["hidden"], c["model_config"]["hidden"])
want = (int(epochs), round(float(lr), 9), int(hidden), int(hidden))
assert got == want, f"{d}: config.json epochs, lr, hidden = {got}, expected {want}"
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

# 1000 documents, 4 classes: 6 steps an epoch -> 25 epochs (150 steps), lr 0.004 x 600 / 150
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small" "${q[@]}"
check "$T/small" 25 0.016 0 epochs,lr 150
# --epochs given: 18 steps would want lr 0.133, capped at 0.1
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-e3" --epochs 3 "${q[@]}"
check "$T/small-e3" 3 0.1 0 lr 18
# every flag given: the rule sets nothing
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/small-all" --epochs 2 --lr 0.01 --hidden 8 "${q[@]}"
check "$T/small-all" 2 0.01 8 - 12
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
spe = math.ceil(docs / 192)
assert c["corpus_rule"]["train_docs"] == docs and c["corpus_rule"]["steps_per_epoch"] == spe, c["corpus_rule"]
assert c["epochs"] == 25 and abs(c["lr"] - min(0.1, 0.004 * 600 / (25 * spe))) < 1e-12, (c["epochs"], c["lr"])
PY
# 24,000 documents, 2 classes: 125 steps an epoch -> 5 epochs, lr 0.004, hidden 16 (the old defaults)
"$TCDIST" train --data "$T/big.h5" --run-dir "$T/big" "${q[@]}"
check "$T/big" 5 0.004 16 epochs,lr 625
# another model kind: 5 epochs and 0.004 whatever the corpus
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/cnn" --model cnn --dim 8 --filters 4 --widths 2,3 "${q[@]}"
"$PYTHON" - "$T/cnn" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
assert (c["epochs"], c["lr"], "corpus_rule" in c) == (5, 0.004, False), (c["epochs"], c["lr"], c.get("corpus_rule"))
PY
# resumed after a SIGKILL at step 97 of 150: the parameters of the uninterrupted run
set +e
TCDIST_FAULT=kill:0:97 "$TCDIST" train --data "$T/small.h5" --run-dir "$T/killed" --quiet --threads 1 \
  --checkpoint-every 10 >/dev/null 2>&1
rc=$?
set -e
[ $rc -eq 137 ] || fail "the killed run exited $rc, expected 137"
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/killed" --resume --quiet --threads 1 --checkpoint-every 10
[ "$(sha "$T/killed")" = "$(sha "$T/small")" ] || fail "resumed run differs from the uninterrupted one"
# the start line says what the rule chose
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/said" --threads 1 --no-checkpoint --max-steps 1 > "$T/said.out"
grep -q "epochs 1/25\|--epochs and --lr from the corpus rule (1000 training documents, 6 steps/epoch" "$T/said.out" ||
  fail "the start line does not name the corpus rule: $(head -3 "$T/said.out")"
# bad values are usage errors
set +e
"$TCDIST" train --data "$T/small.h5" --run-dir "$T/bad" --hidden -1 "${q[@]}" 2> "$T/bad.err"
rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--hidden" "$T/bad.err" || fail "--hidden -1: exit $rc, $(cat "$T/bad.err")"
echo "ok: corpus-dependent defaults"
