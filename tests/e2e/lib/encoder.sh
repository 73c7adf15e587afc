# Shared by the tests of the sequence encoders (train/cnn.sh, train/transformer.sh), sourced after
# lib/mpi.sh: the corpus (1003 training documents of 3 classes, 300 to validate on, in $T) and the
# checks both models must pass. The caller sets MODEL (its --model name) and base=(...) (its train
# flags: --data "$T/a.h5", a batch of 50 that 3 does not divide, --max-len 25 so that documents are
# truncated, 2 epochs, --checkpoint-every 5), then calls the checks:
#   encoder_learns         >= 0.6 accuracy on 3 classes, and the start line counts the truncated documents
#   encoder_threads_ranks  threads 1 = 2; -np 2 close; --deterministic identical for -np 1, 2, 3 and
#                          threads 1, 2 (sets ref, the deterministic run's params_sha256)
#   encoder_resume         stopped by a signal, by SIGKILL, and at -np 2 then resumed at -np 3
#   encoder_predict        predict on text, and on one-word documents
#   encoder_rss FLAGS...   peak RSS at --batch 1024 within 1.3x of --batch 64 on long documents
#   expect2 PATTERN FLAGS...  a usage error: exit 2, stderr matching PATTERN
"$TCDIST" synth --docs 1003 --classes 3 --seed 5 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 300 --classes 3 --seed 5 --part 1 -o "$T/v.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
# run EXPECTED_RC -- command...
run() { local want=$1; shift 2; set +e; "$@"; local rc=$?; set -e; [ $rc -eq "$want" ] || fail "'$*' exited $rc, expected $want"; }

encoder_learns() {
  common=("${base[@]}" --quiet)
  "$TCDIST" train "${base[@]}" --run-dir "$T/t1" --threads 1 >"$T/t1.log" 2>&1 || { cat "$T/t1.log"; fail "train"; }
  grep -qE "max-len 25 truncates [1-9][0-9]* of the 1003 training documents" "$T/t1.log" ||
    { cat "$T/t1.log"; fail "the start line does not report the truncated documents"; }
  "$TCDIST" eval --model "$T/t1" --data "$T/v.h5" --json >"$T/eval.json"
  "$PYTHON" - "$T/eval.json" "$MODEL" <<'PY'
import json, sys
ev, model = json.load(open(sys.argv[1])), sys.argv[2]
assert ev["n_docs"] == 300 and ev["accuracy"] >= 0.6, f"{model} accuracy {ev['accuracy']} on 3 classes (chance 0.33)"
print(f"ok: {model} valid accuracy {ev['accuracy']:.3f}")
PY
}

encoder_threads_ranks() {
  "$TCDIST" train "${common[@]}" --run-dir "$T/t2" --threads 2
  [ "$(sha "$T/t2")" = "$(sha "$T/t1")" ] || fail "--threads 2 differs from --threads 1"
  # -np 2 sums in another order. Adam scales each element's step to about lr whatever its
  # gradient, so an embedding row that few documents touch can end up to a fraction of lr away
  # (1.4e-4 on an Intel Xeon, 2026-12-06, in one of 100k elements); a lost or doubled gradient
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
}

encoder_resume() {
  run 3 -- env TCDIST_FAULT=signal:0:17 "$TCDIST" train "${common[@]}" --run-dir "$T/sig" --threads 1
  [ ! -e "$T/sig/model.h5" ] || fail "a stopped run wrote model.h5"
  "$TCDIST" train "${common[@]}" --run-dir "$T/sig" --threads 1
  [ "$(sha "$T/sig")" = "$(sha "$T/t1")" ] || fail "stopped by a signal at step 17: the resumed run differs"
  run 137 -- env TCDIST_FAULT=kill:0:23 "$TCDIST" train "${common[@]}" --run-dir "$T/kill" --threads 1
  "$TCDIST" train "${common[@]}" --run-dir "$T/kill" --threads 1 --resume
  [ "$(sha "$T/kill")" = "$(sha "$T/t1")" ] || fail "SIGKILL at step 23: the resumed run differs"
  run 3 -- env TCDIST_FAULT=signal:1:29 timeout 300 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/np" \
    --threads 1 --deterministic
  mpi 3 "${common[@]}" --run-dir "$T/np" --threads 1 --deterministic
  [ "$(sha "$T/np")" = "$ref" ] || fail "stopped at -np 2, resumed at -np 3 (--deterministic): differs"
  echo "ok: resumed bit-exactly after a signal, after SIGKILL, and at another -np (of 42 steps)"
}

encoder_predict() {
  head -n 21 "$T/v.tsv" | tail -n 20 | cut -f1 >"$T/text.txt"
  "$TCDIST" predict --model "$T/t1" --top-k 2 "$T/text.txt" >"$T/pred.tsv"
  [ "$(wc -l <"$T/pred.tsv")" -eq 20 ] || fail "predict printed $(wc -l <"$T/pred.tsv") lines for 20 documents"
  # one known word, one unknown word (for the CNN: shorter than the widest filter)
  printf 'ge\nqqqqzzzz\n' | "$TCDIST" predict --model "$T/t1" >"$T/short.tsv" || fail "predict on one-word documents"
  [ "$(wc -l <"$T/short.tsv")" -eq 2 ] || fail "predict on one-word documents"
}

# Activation memory is bounded by the chunks in flight, not by the batch: on long documents (mean
# 600 tokens) only the pooled features grow with the batch. One thread: one chunk in flight at
# either batch size. FLAGS: the model's (--model ... and its size).
encoder_rss() {
  "$TCDIST" synth --docs 1024 --classes 2 --seed 9 --mean-len 600 -o "$T/long.tsv" >/dev/null
  "$TCDIST" prepare -o "$T/long.h5" "$T/long.tsv" >/dev/null
  "$PYTHON" - "$TCDIST" "$T" "$@" <<'PY'
import resource, subprocess, sys
b, t, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
rss = {}
for bs, steps in ((64, 4), (1024, 1)):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([b, "train", "--data", f"{t}/long.h5", *flags, "--max-len", "600", "--batch", str(bs),
                    "--max-steps", str(steps), "--threads", "1", "--quiet", "--run-dir", f"{t}/rss{bs}"], check=True)
    rss[bs] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (kB)
    assert rss[bs] >= before
r = rss[1024] / rss[64]
assert r < 1.3, f"peak RSS at --batch 1024 is {r:.2f}x that at --batch 64 ({rss[1024]} kB vs {rss[64]} kB)"
print(f"ok: peak RSS {rss[64] // 1024} MB at --batch 64, {rss[1024] // 1024} MB at --batch 1024 ({r:.2f}x)")
PY
}

expect2() {
  local pat=$1; shift
  set +e; "$TCDIST" train --data "$T/a.h5" --run-dir "$T/bad" "$@" >/dev/null 2>"$T/err"; local rc=$?; set -e
  [ $rc -eq 2 ] || { cat "$T/err"; fail "'$*' exited $rc, expected 2"; }
  grep -qE -- "$pat" "$T/err" || { cat "$T/err"; fail "'$*': stderr lacks /$pat/"; }
}
