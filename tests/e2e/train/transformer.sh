#!/usr/bin/env bash
# --model transformer through the real binary on a synthetic corpus: it learns (accuracy well above
# chance); bit-identical parameters for --threads 1 and 2; -np 2 close to the single process;
# --deterministic bit-identical for -np 1, 2, 3 and threads 1, 2; a run stopped by a signal or
# SIGKILL and resumed ends at the uninterrupted run's parameters (also stopped at -np 2 and resumed
# at -np 3 with --deterministic); eval, predict (text and --data) and inspect on the model; the
# start line counts the documents --max-len truncates; peak RSS at --batch 1024 within 1.3x of
# --batch 64 on long documents; bad flag combinations are usage errors.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1003 --classes 3 --seed 5 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 300 --classes 3 --seed 5 --part 1 -o "$T/v.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
# a batch (50) that 3 does not divide, documents longer than --max-len
base=(--data "$T/a.h5" --model transformer --dim 16 --heads 2 --ffn 24 --max-len 25 --epochs 2 --batch 50
      --lr 0.003 --checkpoint-every 5)
common=("${base[@]}" --quiet)
# run EXPECTED_RC -- command...
run() { local want=$1; shift 2; set +e; "$@"; local rc=$?; set -e; [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want"; }

# --- it learns, and the start line reports truncation
"$TCDIST" train "${base[@]}" --run-dir "$T/t1" --threads 1 >"$T/t1.log" 2>&1 || { cat "$T/t1.log"; fail "train"; }
grep -qE "max-len 25 truncates [1-9][0-9]* of the 1003 training documents" "$T/t1.log" ||
  { cat "$T/t1.log"; fail "the start line does not report the truncated documents"; }
"$TCDIST" eval --model "$T/t1" --data "$T/v.h5" --json >"$T/eval.json"
"$PYTHON" - "$T/eval.json" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))
assert ev["n_docs"] == 300 and ev["accuracy"] >= 0.6, f"transformer accuracy {ev['accuracy']} on 3 classes (chance 0.33)"
print(f"ok: transformer valid accuracy {ev['accuracy']:.3f}")
PY

# --- threads, ranks
"$TCDIST" train "${common[@]}" --run-dir "$T/t2" --threads 2
[ "$(sha "$T/t2")" = "$(sha "$T/t1")" ] || fail "--threads 2 differs from --threads 1"
# -np 2 sums in another order. Adam scales each element's step to about lr (0.003) whatever its
# gradient, so an embedding row that few documents touch can end up to a fraction of lr away
# (1.4e-4 on an Intel Xeon, 2026-12-06, in one of its 100k elements); a lost or doubled gradient
# moves many elements by multiples of lr.
mpi 2 "${common[@]}" --run-dir "$T/np2" --threads 1
close "$T/np2" "$T/t1" 1e-3
mpi 2 "${common[@]}" --run-dir "$T/np2s" --threads 1 --exchange sparse
close "$T/np2s" "$T/t1" 1e-3
"$TCDIST" train "${common[@]}" --run-dir "$T/det" --threads 1 --deterministic
ref=$(sha "$T/det")
"$TCDIST" train "${common[@]}" --run-dir "$T/det_t2" --threads 2 --deterministic
[ "$(sha "$T/det_t2")" = "$ref" ] || fail "deterministic: 2 threads differ from 1"
for n in 1 2 3; do
  mpi $n "${common[@]}" --run-dir "$T/det_np$n" --threads 1 --deterministic
  [ "$(sha "$T/det_np$n")" = "$ref" ] || fail "deterministic: -np $n differs from the single process"
done
mpi 2 "${common[@]}" --run-dir "$T/det_np2_t2" --threads 2 --deterministic
[ "$(sha "$T/det_np2_t2")" = "$ref" ] || fail "deterministic: -np 2 x 2 threads differs"
echo "ok: threads 1 = 2; -np 2 close; --deterministic identical for -np 1, 2, 3 and threads 1, 2"

# --- resume: a signal, SIGKILL (after the first checkpoint), and another rank count
steps=42
run 3 -- env TCDIST_FAULT=signal:0:17 "$TCDIST" train "${common[@]}" --run-dir "$T/sig" --threads 1
[ ! -e "$T/sig/model.h5" ] || fail "a stopped run wrote model.h5"
"$TCDIST" train "${common[@]}" --run-dir "$T/sig" --threads 1
[ "$(sha "$T/sig")" = "$(sha "$T/t1")" ] || fail "stopped by a signal at step 17: the resumed run differs"
run 137 -- env TCDIST_FAULT=kill:0:23 "$TCDIST" train "${common[@]}" --run-dir "$T/kill" --threads 1
"$TCDIST" train "${common[@]}" --run-dir "$T/kill" --threads 1 --resume
[ "$(sha "$T/kill")" = "$(sha "$T/t1")" ] || fail "SIGKILL at step 23: the resumed run differs"
run 137 -- env TCDIST_FAULT=kill:0:23 "$TCDIST" train "${common[@]}" --run-dir "$T/killd" --threads 2 --deterministic
mpi 3 "${common[@]}" --run-dir "$T/killd" --threads 1 --deterministic --resume
[ "$(sha "$T/killd")" = "$ref" ] || fail "SIGKILL at step 23, resumed at -np 3 (--deterministic): differs"
run 3 -- env TCDIST_FAULT=signal:1:29 timeout 300 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/np" \
  --threads 1 --deterministic
mpi 3 "${common[@]}" --run-dir "$T/np" --threads 1 --deterministic
[ "$(sha "$T/np")" = "$ref" ] || fail "stopped at -np 2, resumed at -np 3 (--deterministic): differs"
echo "ok: resumed bit-exactly after a signal, after SIGKILL, and at another -np (of $steps steps)"

# --- eval, predict, inspect on the model
head -n 21 "$T/v.tsv" | tail -n 20 | cut -f1 >"$T/text.txt"
"$TCDIST" predict --model "$T/t1" --top-k 2 "$T/text.txt" >"$T/pred.tsv"
[ "$(wc -l <"$T/pred.tsv")" -eq 20 ] || fail "predict printed $(wc -l <"$T/pred.tsv") lines for 20 documents"
# one known word, one unknown word
printf 'ge\nqqqqzzzz\n' | "$TCDIST" predict --model "$T/t1" >"$T/short.tsv" || fail "predict on one-word documents"
[ "$(wc -l <"$T/short.tsv")" -eq 2 ] || fail "predict on one-word documents"
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
"$TCDIST" synth --docs 1024 --classes 2 --seed 9 --mean-len 600 -o "$T/long.tsv" >/dev/null
"$TCDIST" prepare -o "$T/long.h5" "$T/long.tsv" >/dev/null
"$PYTHON" - "$TCDIST" "$T" <<'PY'
import resource, subprocess, sys
b, t = sys.argv[1], sys.argv[2]
rss = {}
for bs, steps in ((64, 4), (1024, 1)):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([b, "train", "--data", f"{t}/long.h5", "--model", "transformer", "--dim", "16", "--heads", "2",
                    "--ffn", "32", "--layers", "1", "--max-len", "600", "--batch", str(bs), "--max-steps", str(steps),
                    "--threads", "1", "--quiet", "--run-dir", f"{t}/rss{bs}"], check=True)
    rss[bs] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (kB)
    assert rss[bs] >= before
r = rss[1024] / rss[64]
assert r < 1.3, f"peak RSS at --batch 1024 is {r:.2f}x that at --batch 64 ({rss[1024]} kB vs {rss[64]} kB)"
print(f"ok: peak RSS {rss[64] // 1024} MB at --batch 64, {rss[1024] // 1024} MB at --batch 1024 ({r:.2f}x)")
PY

# --- usage errors (exit 2, naming the flag)
expect2() {
  local pat=$1; shift
  set +e; "$TCDIST" train --data "$T/a.h5" --run-dir "$T/bad" "$@" >/dev/null 2>"$T/err"; local rc=$?; set -e
  [ $rc -eq 2 ] || { cat "$T/err"; fail "'$*' exited $rc, expected 2"; }
  grep -qE -- "$pat" "$T/err" || { cat "$T/err"; fail "'$*': stderr lacks /$pat/"; }
}
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
