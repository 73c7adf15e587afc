#!/usr/bin/env bash
# --model transformer through the real binary on a synthetic corpus: it learns (accuracy well above
# chance); bit-identical parameters for --threads 1 and 2; -np 2 close to the single process;
# --deterministic bit-identical for -np 1, 2, 3 and threads 1, 2; a run stopped by a signal or
# SIGKILL and resumed ends at the uninterrupted run's parameters (also stopped at -np 2 and resumed
# at -np 3 with --deterministic); eval, predict (text and --data) and inspect on the model; the
# start line counts the documents --max-len truncates; peak RSS at --batch 1024 within 1.3x of
# --batch 64 on long documents; bad flag combinations are usage errors.
source "$(dirname "$0")/../lib/mpi.sh"
MODEL=transformer
source "$(dirname "$0")/../lib/encoder.sh"
# a batch (50) that 3 does not divide, documents longer than --max-len
base=(--data "$T/a.h5" --model transformer --dim 16 --heads 2 --ffn 24 --max-len 25 --epochs 2 --batch 50
      --lr 0.003 --checkpoint-every 5)

# --- it learns, and the start line reports truncation
encoder_learns

# --- threads, ranks
encoder_threads_ranks

# --- resume: a signal, SIGKILL (after the first checkpoint), and another rank count
encoder_resume
run 137 -- env TCDIST_FAULT=kill:0:23 "$TCDIST" train "${common[@]}" --run-dir "$T/killd" --threads 2 --deterministic
mpi 3 "${common[@]}" --run-dir "$T/killd" --threads 1 --deterministic --resume
[ "$(sha "$T/killd")" = "$ref" ] || fail "SIGKILL at step 23 (2 threads), resumed at -np 3 (--deterministic): differs"

# --- eval, predict, inspect on the model
encoder_predict
"$TCDIST" predict --model "$T/t1" --data "$T/v.h5" -o "$T/pred.jsonl" 2>/dev/null
"$TCDIST" inspect "$T/t1" --json >"$T/inspect.json"
"$TCDIST" inspect "$T/t1" --verify >/dev/null || fail "inspect --verify"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
ins = json.load(open(f"{t}/inspect.json"))
assert ins["model"] == "transformer", ins["model"]
assert ins["model_config"] == {"kind": "transformer", "dim": 16, "heads": 2, "ffn": 24, "layers": 2, "dropout": 0.1,
                               "max_len": 25}, ins["model_config"]
names = [x["name"] for x in ins["tensors"]]
block = ["ln1.scale", "ln1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.out.weight", "attn.out.bias",
         "ln2.scale", "ln2.bias", "ffn.in.weight", "ffn.in.bias", "ffn.out.weight", "ffn.out.bias"]
want = ["embedding", "pos_embedding"] + [f"layer{l}.{b}" for l in range(2) for b in block] + \
       ["ln.scale", "ln.bias", "out.weight", "out.bias"]
assert names == want, names
ev = json.load(open(f"{t}/eval.json"))
rows = [json.loads(l) for l in open(f"{t}/pred.jsonl")]
assert len(rows) == 300
gold = [l.rstrip("\n").split("\t")[1] for l in open(f"{t}/v.tsv")][1:]
acc = sum(r["label"] == g for r, g in zip(rows, gold)) / 300
assert abs(acc - ev["accuracy"]) < 1e-6, (acc, ev["accuracy"])  # eval --json rounds to 6 digits
for line, r in zip(open(f"{t}/pred.tsv"), rows[:20]):
    label, prob = line.split("\t")[:2]
    assert label == r["label"] and abs(float(prob) - r["prob"]) < 1e-5, (line, r)
print("ok: eval, predict (text and --data) and inspect agree on the transformer model")
PY
"$TCDIST" plot "$T/t1" -o "$T/plot.svg" >/dev/null 2>&1 || fail "plot on a transformer run"
[ -s "$T/plot.svg" ] || fail "plot wrote nothing"

# --- activation memory: bounded by the chunks in flight, not by the batch. Long documents (mean
# 600 tokens; a small model, dim 16 and one block, keeps it fast): the batch's token gradients
# would take ~25 MB at --batch 1024 (peak RSS 1.6x that of --batch 64 when they were kept); only
# the pooled vectors grow with the batch. One thread: one chunk in flight at either batch size.
encoder_rss --model transformer --dim 16 --heads 2 --ffn 32 --layers 1

# --- usage errors (exit 2, naming the flag)
expect2 "--heads 3 does not divide --dim 64" --model transformer --heads 3
expect2 "--heads 4 does not divide --dim 18" --model transformer --dim 18
expect2 "option '--max-len': 0 is out of range" --model transformer --max-len 0
expect2 "option '--max-len': 4096 is out of range" --model transformer --max-len 4096
expect2 "option '--layers': 5 is out of range" --model transformer --layers 5
expect2 "option '--widths' does not apply to --model transformer" --model transformer --widths 3,4
expect2 "option '--filters' does not apply to --model transformer" --model transformer --filters 8
expect2 "option '--heads' does not apply to --model bow" --heads 2
expect2 "option '--layers' does not apply to --model bow" --layers 2
expect2 "option '--ffn' does not apply to --model cnn" --model cnn --ffn 32
expect2 "option '--heads' does not apply to --model cnn" --model cnn --heads 2
[ ! -e "$T/bad/model.h5" ] || fail "a refused run wrote a model"
echo "ok: bad flag combinations are usage errors"
