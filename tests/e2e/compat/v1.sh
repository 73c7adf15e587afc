#!/usr/bin/env bash
# Files written by tcdist 0.1 (format version 1: corpus, model, checkpoint; see v1/README.md) keep
# loading and give the same results: eval and predict print what 0.1 printed, and resuming the
# checkpoint ends at 0.1's params_sha256 (--deterministic: the same on every machine).
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
F=$(cd "$(dirname "$0")/v1" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# OpenBLAS' Haswell kernels, as when the expected outputs were recorded (eval and predict use sgemm)
export OPENBLAS_CORETYPE=Haswell
if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo "skip: the recorded outputs need an x86-64 CPU with AVX2"; exit 77; fi
cd "$T"
gunzip -c "$F/corpus.h5.gz" > corpus.h5
gunzip -c "$F/valid.h5.gz" > valid.h5
cp -r "$F/run" run
cp -r "$F/ckptrun" ckptrun

# every file of version 1 is recognised and described
for f in corpus.h5 run/model.h5 ckptrun/checkpoints/ckpt-00000021.h5; do
  "$TCDIST" inspect --json "$f" > inspect.json || fail "inspect $f"
  "$PYTHON" -c 'import json,sys; d=json.load(open("inspect.json")); assert d["version"] == 1, d["version"]' ||
    fail "inspect $f: version is not 1"
done
"$TCDIST" inspect --json run/model.h5 > m.json
"$PYTHON" - <<'PY' || fail "the v1 model is not described as bow dim 8 hidden 8"
import json
d = json.load(open("m.json"))
assert d["model"] == "bow" and d["dim"] == 8 and d["hidden"] == 8, d
assert d["model_config"] == {"kind": "bow", "dim": 8, "hidden": 8}, d["model_config"]
PY

# eval and predict through the v1 model: the same bytes as tcdist 0.1 printed
"$TCDIST" eval --json --model run --data valid.h5 > eval.json
cmp eval.json "$F/expected/eval.json" || { diff eval.json "$F/expected/eval.json" | head; fail "eval differs from 0.1"; }
set +e
"$TCDIST" predict --model run/model.h5 --top-k 2 --json "$F/predict-input.txt" 2>/dev/null | sed "s|$F/||" > predict.jsonl
"$TCDIST" predict --model run "$F/predict-input.txt" > predict.tsv 2>/dev/null
set -e
sed -i 's|"file": "[^"]*predict-input.txt"|"file": "predict-input.txt"|' predict.jsonl
cmp predict.jsonl "$F/expected/predict.jsonl" || { diff predict.jsonl "$F/expected/predict.jsonl" | head; fail "predict --json differs from 0.1"; }
cmp predict.tsv "$F/expected/predict.tsv" || fail "predict differs from 0.1"

# resume the v1 checkpoint to the end of its run: 0.1's parameters, bit for bit
"$TCDIST" train --data corpus.h5 --valid valid.h5 --run-dir ckptrun --dim 8 --hidden 8 --epochs 3 --batch 32 \
  --lr 0.05 --deterministic --keep 1 --progress-secs 1000 > resume.out || fail "resuming the v1 checkpoint"
grep -q "resuming from .*ckpt-00000021.h5: step 21" resume.out || fail "the run did not resume from the v1 checkpoint"
got=$("$PYTHON" -c 'import json; print(json.load(open("ckptrun/summary.json"))["params_sha256"])')
[ "$got" = "$(cat "$F/expected/resume_params_sha256.txt")" ] || fail "resumed v1 run: params_sha256 $got, 0.1 gave $(cat "$F/expected/resume_params_sha256.txt")"
grep '"valid"' ckptrun/metrics.jsonl | sed 's/, "elapsed_s".*//' > valid.jsonl
cmp valid.jsonl "$F/expected/resume_valid.jsonl" || { diff valid.jsonl "$F/expected/resume_valid.jsonl"; fail "validation records differ from 0.1"; }
# the new checkpoint and model are of the current version
"$TCDIST" inspect --json ckptrun > new.json
"$PYTHON" -c 'import json; d=json.load(open("new.json")); assert d["version"] >= 2 and d["format"] == "tcdist-model", d' ||
  fail "the resumed run did not write a current model"
echo "ok: version 1 corpus, model and checkpoint load; eval, predict and resume match tcdist 0.1"
