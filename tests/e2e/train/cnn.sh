#!/usr/bin/env bash
# --model cnn through the real binary on a synthetic corpus: it learns (accuracy well above
# chance); bit-identical parameters for --threads 1 and 2; -np 2 close to the single process;
# --deterministic bit-identical for -np 1, 2, 3 and threads 1, 2; a run stopped by a signal or
# SIGKILL and resumed ends at the uninterrupted run's parameters (also stopped at -np 2 and resumed
# at -np 3 with --deterministic); eval, predict (text and --data) and inspect on the model; the
# start line counts the documents --max-len truncates; peak RSS at --batch 1024 within 1.3x of
# --batch 64 on long documents; `--wide 1` (Kim's zero padding) learns, is bit-identical for -np 1
# and 2 with --deterministic, differs from the narrow model, and eval/predict/inspect read it; bad
# flag combinations are usage errors.
source "$(dirname "$0")/../lib/mpi.sh"
MODEL=cnn
source "$(dirname "$0")/../lib/encoder.sh"
# a batch (50) that 3 does not divide, documents longer than --max-len and shorter than width 5
base=(--data "$T/a.h5" --model cnn --dim 16 --filters 8 --widths 2,3,5 --max-len 25 --epochs 2 --batch 50 --lr 0.01
      --checkpoint-every 5)

# --- it learns, and the start line reports truncation
encoder_learns

# --- threads, ranks
encoder_threads_ranks

# --- resume: a signal, SIGKILL (after the first checkpoint), and another rank count
encoder_resume

# --- eval, predict, inspect on the model
encoder_predict
"$TCDIST" predict --model "$T/t1" --data "$T/v.h5" -o "$T/pred.jsonl" 2>/dev/null
"$TCDIST" inspect "$T/t1" --json >"$T/inspect.json"
"$TCDIST" inspect "$T/t1" --verify >/dev/null || fail "inspect --verify"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
ins = json.load(open(f"{t}/inspect.json"))
assert ins["model"] == "cnn", ins["model"]
assert ins["model_config"] == {"kind": "cnn", "dim": 16, "filters": 8, "widths": [2, 3, 5], "dropout": 0.5,
                               "max_len": 25, "wide": 0}, ins["model_config"]
names = [x["name"] for x in ins["tensors"]]
assert names == ["embedding", "conv0.weight", "conv0.bias", "conv1.weight", "conv1.bias", "conv2.weight",
                 "conv2.bias", "out.weight", "out.bias"], names
ev = json.load(open(f"{t}/eval.json"))
rows = [json.loads(l) for l in open(f"{t}/pred.jsonl")]
assert len(rows) == 300
gold = [l.rstrip("\n").split("\t")[1] for l in open(f"{t}/v.tsv")][1:]
acc = sum(r["label"] == g for r, g in zip(rows, gold)) / 300
assert abs(acc - ev["accuracy"]) < 1e-6, (acc, ev["accuracy"])  # eval prints 6 decimals; 300 documents
# predict on raw text agrees with predict --data on the same documents (rows 0..19)
for line, r in zip(open(f"{t}/pred.tsv"), rows[:20]):
    label, prob = line.split("\t")[:2]
    assert label == r["label"] and abs(float(prob) - r["prob"]) < 1e-5, (line, r)
print("ok: eval, predict (text and --data) and inspect agree on the cnn model")
PY

# --- activation memory: bounded by the chunks in flight, not by the batch. Long documents (mean
# 600 tokens, dim 128): the batch's token vectors and their gradients would take ~400 MB at
# --batch 1024 (peak RSS 4.8x that of --batch 64 when they were kept); only the pooled features
# grow with the batch. One thread: one chunk in flight at either batch size.
encoder_rss --model cnn

# --- the wide convolution: its own function (not the narrow one's parameters), the same guarantees
"$TCDIST" train "${common[@]}" --run-dir "$T/w1" --threads 2 --wide 1 --deterministic
mpi 2 "${common[@]}" --run-dir "$T/w2" --threads 1 --wide 1 --deterministic
[ "$(sha "$T/w2")" = "$(sha "$T/w1")" ] || fail "--wide 1 --deterministic: -np 2 differs from the single process"
[ "$(sha "$T/w1")" != "$ref" ] || fail "--wide 1 gave the narrow model's parameters"
"$TCDIST" eval --model "$T/w1" --data "$T/v.h5" --json >"$T/weval.json"
"$TCDIST" predict --model "$T/w1" --data "$T/v.h5" -o "$T/wpred.jsonl" 2>/dev/null
"$TCDIST" inspect "$T/w1" --json >"$T/winspect.json"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
assert json.load(open(f"{t}/winspect.json"))["model_config"]["wide"] == 1
ev = json.load(open(f"{t}/weval.json"))
assert ev["accuracy"] >= 0.6, f"--wide 1 accuracy {ev['accuracy']} on 3 classes (chance 0.33)"
rows = [json.loads(l) for l in open(f"{t}/wpred.jsonl")]
gold = [l.rstrip("\n").split("\t")[1] for l in open(f"{t}/v.tsv")][1:]
assert abs(sum(r["label"] == g for r, g in zip(rows, gold)) / 300 - ev["accuracy"]) < 1e-6  # eval prints 6 decimals
print(f"ok: --wide 1 learns ({ev['accuracy']:.3f}), -np 2 = -np 1 with --deterministic, eval/predict/inspect read it")
PY

# --- usage errors (exit 2, naming the flag)
expect2 "option '--widths' does not apply to --model bow" --widths 3,4
expect2 "option '--hidden' does not apply to --model cnn .*--max-len" --model cnn --hidden 8
expect2 "option '--max-len': 0 is out of range" --model cnn --max-len 0
expect2 "option '--widths': 0 is out of range" --model cnn --widths 3,0
expect2 "option '--filters': 0 is out of range" --model cnn --filters 0
expect2 "option '--widths'.*not a comma-separated list" --model cnn --widths 3,,4
expect2 "option '--dropout'.*out of range" --model cnn --dropout 1
expect2 "option '--wide': 2 is out of range" --model cnn --wide 2
expect2 "option '--wide' does not apply to --model bow" --wide 1
[ ! -e "$T/bad/model.h5" ] || fail "a refused run wrote a model"
echo "ok: bad flag combinations are usage errors"
