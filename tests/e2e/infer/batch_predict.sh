#!/usr/bin/env bash
# predict --data CORPUS.h5 -o OUT: batch inference over a prepared corpus through the binary, alone
# and under mpirun -np 1, 2 and 3. The JSONL and HDF5 outputs are identical for every rank count and
# window size, and identical (labels, probabilities, top K) to `tcdist predict` on the same texts;
# a corpus made with another vocabulary, a missing or damaged corpus or model is refused with a
# message naming the file, exit 1, and no output (an existing one is not replaced).
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
MPIRUN=${MPIEXEC:-mpirun}
mpi() { local n=$1; shift; timeout 300 "$MPIRUN" -n "$n" "$TCDIST" predict "$@"; }
cd "$T"
"$TCDIST" synth --docs 3000 --classes 3 --seed 11 -o train.tsv >/dev/null
"$TCDIST" synth --docs 1000 --classes 3 --seed 11 --part 1 -o test.tsv >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 1000 -o train.h5 train.tsv >/dev/null
"$TCDIST" prepare --vocab train.h5 -o test.h5 test.tsv >/dev/null
# the hidden layer makes the forward pass go through sgemm, whose rounding may depend on the chunk
"$TCDIST" train --data train.h5 --run-dir run --epochs 2 --hidden 8 --dim 16 --quiet
tail -n +2 test.tsv | cut -f1 >text.txt
"$TCDIST" predict --model run --json --top-k 3 text.txt >text.jsonl

# alone, then under mpirun with windows that are not a multiple of 64 documents or of the ranks
"$TCDIST" predict --model run --data test.h5 -o a.jsonl --top-k 3 2>a.err
grep -q "^predicted 1000 documents in .*: a.jsonl" a.err || { cat a.err; fail "no progress line"; }
"$TCDIST" predict --model run --data test.h5 -o q.jsonl --top-k 3 --quiet 2>q.err
[ ! -s q.err ] || { cat q.err; fail "--quiet printed something"; }
cmp -s a.jsonl q.jsonl || fail "--quiet changed the output"
"$TCDIST" predict --model run/model.h5 --data test.h5 -o a.h5
for np in 1 2 3; do
  mpi "$np" --model run --data test.h5 -o "np$np.jsonl" --top-k 3 --batch 200 --quiet
  mpi "$np" --model run --data test.h5 -o "np$np.h5" --batch 130 --quiet
  cmp -s a.jsonl "np$np.jsonl" || fail "-np $np: JSONL differs from the single-process run"
done
mpi 2 --model run --data test.h5 -o w.jsonl --top-k 3 --batch 1 --threads 2 --quiet
cmp -s a.jsonl w.jsonl || fail "--batch 1 --threads 2 under -np 2: JSONL differs"
"$TCDIST" predict --model run --data test.h5 -o top1.jsonl
ls -A | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls -A | grep '\.tmp\.')"

"$PYTHON" - <<'PY'
import json, h5py, numpy as np
text = [json.loads(l) for l in open("text.jsonl")]
batch = [json.loads(l) for l in open("a.jsonl")]
top1 = [json.loads(l) for l in open("top1.jsonl")]
assert len(text) == len(batch) == len(top1) == 1000, (len(text), len(batch), len(top1))
for i, (t, b, o) in enumerate(zip(text, batch, top1)):
    assert b["doc"] == o["doc"] == i, (i, b, o)
    assert (b["label"], b["prob"], b["top"]) == (t["label"], t["prob"], t["top"]), (i, b, t)
    assert "top" not in o and (o["label"], o["prob"]) == (t["label"], t["prob"]), (i, o, t)
# the printed numbers come from the very same floats: compare them as printed
raw_t = [l.split('"label"', 1)[1] for l in open("text.jsonl")]
raw_b = [l.split('"label"', 1)[1] for l in open("a.jsonl")]
assert raw_t == raw_b, "text and corpus predictions differ in their printed form"
ref = h5py.File("a.h5", "r")
assert ref.attrs["format"] == b"tcdist-predictions" and ref.attrs["n_docs"] == 1000 and ref.attrs["n_classes"] == 3
lab, prob = ref["labels"][()], ref["probabilities"][()]
assert lab.dtype == np.int32 and lab.shape == (1000,) and prob.dtype == np.float32 and prob.shape == (1000, 3)
b, o = ref["label_names/bytes"][()].tobytes(), ref["label_names/offsets"][()]
names = [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]
assert names == ["0", "1", "2"], names
assert (lab == np.argmax(prob, axis=1)).all()
assert np.allclose(prob.sum(axis=1), 1, atol=1e-5)
for i, t in enumerate(text):
    assert names[lab[i]] == t["label"] and "%.6f" % prob[i, lab[i]] == "%.6f" % t["prob"], (i, t)
    assert ["%.6f" % prob[i, names.index(x["label"])] for x in t["top"]] == ["%.6f" % x["prob"] for x in t["top"]]
for np_ in (1, 2, 3):
    f = h5py.File(f"np{np_}.h5", "r")
    assert (f["labels"][()] == lab).all(), np_
    assert f["probabilities"][()].tobytes() == prob.tobytes(), f"-np {np_}: probabilities differ bit for bit"
model = h5py.File("run/model.h5", "r")
assert ref.attrs["params_sha256"] == model.attrs["params_sha256"]
print("ok: JSONL and HDF5 identical for -np 1, 2, 3 and any window; identical to predict on the text")
PY

# bad inputs: exit 1, the file named, nothing written, an existing output kept
expect_error() { # WHAT PATTERN COMMAND...
  local what=$1 pattern=$2; shift 2
  echo old >out.jsonl
  set +e; "$@" >err.txt 2>&1; local rc=$?; set -e
  [ "$rc" -ne 0 ] || fail "$what: exit 0"
  [ "$rc" -lt 128 ] && [ "$rc" -ne 124 ] || { cat err.txt; fail "$what: crashed or hung (exit $rc)"; }
  grep -q -- "$pattern" err.txt || { cat err.txt; fail "$what: the message does not name '$pattern'"; }
  [ "$(cat out.jsonl)" = old ] || fail "$what: the existing output was replaced"
  ls -A | grep -q '\.tmp\.' && fail "$what: a temporary file was left"
  echo "ok: $what: exit $rc, $(grep -m1 error err.txt)"
}
"$TCDIST" prepare -o other.h5 test.tsv >/dev/null # its own vocabulary
expect_error "another vocabulary" "other.h5 and --model run/model.h5" \
  "$TCDIST" predict --model run --data other.h5 -o out.jsonl
expect_error "another vocabulary, -np 2" "other.h5 and --model run/model.h5" \
  mpi 2 --model run --data other.h5 -o out.jsonl
expect_error "missing corpus" "missing.h5" "$TCDIST" predict --model run --data missing.h5 -o out.jsonl
expect_error "missing corpus, -np 3" "missing.h5" mpi 3 --model run --data missing.h5 -o out.jsonl
expect_error "missing model" "nomodel" "$TCDIST" predict --model nomodel --data test.h5 -o out.jsonl
expect_error "text as corpus" "test.tsv" "$TCDIST" predict --model run --data test.tsv -o out.jsonl
expect_error "corpus as model" "test.h5" "$TCDIST" predict --model test.h5 --data test.h5 -o out.jsonl
# damaged data: bits flipped inside the last chunk of /tokens (Fletcher32 catches it) and a
# truncated copy
"$PYTHON" - <<'PY'
import h5py, shutil, os
shutil.copy("test.h5", "flipped.h5")
with h5py.File("test.h5", "r") as f:
    ds = f["tokens"]
    c = ds.id.get_chunk_info(ds.id.get_num_chunks() - 1)
with open("flipped.h5", "r+b") as g:
    g.seek(c.byte_offset + c.size // 2)
    b = g.read(1)
    g.seek(c.byte_offset + c.size // 2)
    g.write(bytes([b[0] ^ 0x5A]))
with open("test.h5", "rb") as f, open("cut.h5", "wb") as g:
    g.write(f.read(os.path.getsize("test.h5") * 2 // 3))
PY
expect_error "damaged tokens" "flipped.h5" "$TCDIST" predict --model run --data flipped.h5 -o out.jsonl
expect_error "damaged tokens, -np 3" "flipped.h5" mpi 3 --model run --data flipped.h5 -o out.jsonl --batch 64
expect_error "truncated corpus" "cut.h5" "$TCDIST" predict --model run --data cut.h5 -o out.jsonl
# a signal (scancel, a time limit, ^C) while rank 0 writes: OUT is complete or absent, never
# partial. Alone, SIGTERM also removes the temporary file (under mpirun, which follows its SIGTERM
# with a SIGKILL after 1 s, it may stay).
"$TCDIST" synth --docs 100000 --classes 3 --seed 11 --part 2 -o big.tsv >/dev/null
"$TCDIST" prepare --vocab train.h5 -o big.h5 big.tsv >/dev/null
for launch in alone np3; do
  rm -f big.jsonl .big.jsonl.tmp.*
  if [ $launch = alone ]; then
    "$TCDIST" predict --model run --data big.h5 -o big.jsonl --batch 1 --top-k 3 --quiet &
  else
    "$MPIRUN" -n 3 "$TCDIST" predict --model run --data big.h5 -o big.jsonl --batch 1 --top-k 3 --quiet &
  fi
  pid=$!
  for _ in $(seq 1000); do ls -A | grep -q '^\.big\.jsonl\.tmp\.' && break; sleep 0.01; done
  kill -TERM "$pid"
  set +e; wait "$pid"; rc=$?; set -e
  if [ -e big.jsonl ]; then
    [ "$(wc -l <big.jsonl)" = 100000 ] || fail "$launch: a run stopped by SIGTERM left a partial big.jsonl"
    echo "note: $launch: the run had finished its output before the signal (exit $rc)"
  else
    [ "$rc" != 0 ] || fail "$launch: exit 0 without big.jsonl"
    if [ $launch = alone ] && ls -A | grep -q '\.tmp\.'; then fail "SIGTERM left $(ls -A | grep '\.tmp\.')"; fi
    echo "ok: $launch: SIGTERM (exit $rc): no output"
  fi
done
rm -f .big.jsonl.tmp.*
# usage errors: exit 2
set +e
"$TCDIST" predict --model run --data test.h5 -o out.txt 2>/dev/null; [ $? -eq 2 ] || fail "-o out.txt: not exit 2"
"$TCDIST" predict --model run --data test.h5 2>/dev/null; [ $? -eq 2 ] || fail "no -o: not exit 2"
"$TCDIST" predict --model run --data test.h5 -o out.h5 --top-k 2 2>/dev/null; [ $? -eq 2 ] || fail "--top-k with .h5: not exit 2"
"$TCDIST" predict --model run -o out.jsonl text.txt 2>/dev/null; [ $? -eq 2 ] || fail "-o without --data: not exit 2"
set -e
echo "ok: bad inputs refused"
