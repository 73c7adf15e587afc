#!/usr/bin/env bash
# A cnn model and checkpoint of format version 2 (see v2-cnn/README.md) keep loading and give the
# same results: inspect describes the model, eval and predict print what the recording binary
# printed, and resuming the checkpoint ends at its params_sha256 (--deterministic: the same on
# every machine).
#   v2-cnn.sh                compare (the test)
#   v2-cnn.sh --record       write v2-cnn/expected/ again (only when a change is meant to move them)
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
F=$(cd "$(dirname "$0")/v2-cnn" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
export OPENBLAS_CORETYPE=Haswell OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if ! grep -qw avx2 /proc/cpuinfo 2>/dev/null; then echo "skip: the recorded outputs need an x86-64 CPU with AVX2"; exit 77; fi
E=$T/out; mkdir -p "$E"
cd "$T"
gunzip -c "$F/corpus.h5.gz" > corpus.h5
gunzip -c "$F/valid.h5.gz" > valid.h5
cp -r "$F/run" run
cp -r "$F/ckptrun" ckptrun

# the model and the checkpoint are recognised and described
for f in run/model.h5 ckptrun/checkpoints/ckpt-00000021.h5; do
  "$TCDIST" inspect --json "$f" > inspect.json || fail "inspect $f"
  "$PYTHON" - <<'PY' || fail "inspect $f: not the recorded cnn of version 2"
import json
d = json.load(open("inspect.json"))
assert d["version"] == 2 and d["model"] == "cnn", d
# "wide" came later: a file without it reads as the narrow convolution it was trained with
assert d["model_config"] == {"kind": "cnn", "dim": 8, "filters": 4, "widths": [2, 3], "dropout": 0.5,
                             "max_len": 16, "wide": 0}, d["model_config"]
if d["format"] == "tcdist-model":
    assert [t["name"] for t in d["tensors"]] == ["embedding", "conv0.weight", "conv0.bias", "conv1.weight",
                                                 "conv1.bias", "out.weight", "out.bias"], d["tensors"]
else:
    assert d["format"] == "tcdist-checkpoint" and d["step"] == 21 and d["checksum"] == "ok", d
    assert d["params_sha256"] == "e3d7230f40cd8b9797ac774bb7daedfbc78aa25f4c753a5c3c0748683e8bfa64", d
PY
done
"$TCDIST" inspect --verify run/model.h5 >/dev/null || fail "inspect --verify run/model.h5"

# eval and predict (an empty line, an unknown word, a word shorter than the widest filter, a line
# longer than --max-len 16 are among the inputs)
"$TCDIST" eval --json --model run --data valid.h5 > "$E/eval.json"
"$TCDIST" predict --model run/model.h5 --top-k 2 --json "$F/predict-input.txt" 2>/dev/null |
  sed 's|"file": "[^"]*predict-input.txt"|"file": "predict-input.txt"|' > "$E/predict.jsonl" || true
"$TCDIST" predict --model run "$F/predict-input.txt" > "$E/predict.tsv" 2>/dev/null || true

# resume the checkpoint (written at step 21 of 39) to the end of its run
"$TCDIST" train --data corpus.h5 --valid valid.h5 --run-dir ckptrun --model cnn --dim 8 --filters 4 --widths 2,3 \
  --max-len 16 --epochs 3 --batch 32 --lr 0.05 --deterministic --keep 1 --progress-secs 1000 > resume.out ||
  fail "resuming the cnn checkpoint"
grep -q "resuming from .*ckpt-00000021.h5: step 21" resume.out || { cat resume.out; fail "the run did not resume from the checkpoint"; }
"$PYTHON" -c 'import json; print(json.load(open("ckptrun/summary.json"))["params_sha256"])' > "$E/resume_params_sha256.txt"
grep '"valid"' ckptrun/metrics.jsonl | sed 's/, "elapsed_s".*//' > "$E/resume_valid.jsonl"

if [ "${1:-}" = --record ]; then cp "$E"/* "$F/expected/"; echo "recorded $F/expected"; exit 0; fi
for f in eval.json predict.jsonl predict.tsv resume_params_sha256.txt resume_valid.jsonl; do
  cmp "$E/$f" "$F/expected/$f" || { diff "$E/$f" "$F/expected/$f" | head; fail "$f differs from the recorded one"; }
done
[ "$(wc -l < "$E/predict.tsv")" -eq "$(wc -l < "$F/predict-input.txt")" ] || fail "predict skipped lines"
echo "ok: cnn model and checkpoint of version 2 load; inspect, eval, predict and resume match the recording"
