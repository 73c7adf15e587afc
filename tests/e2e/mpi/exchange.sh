#!/usr/bin/env bash
# Sparse gradient exchange (touched rows only) gives the result of a dense allreduce, and its bytes
# per step follow the tokens per batch, not the vocabulary size; lazy Adam runs and differs from
# dense Adam only in the rows it skips.
source "$(dirname "$0")/../lib/mpi.sh"
# the same documents and tokens per batch; the embedding table differs 100x (bigram buckets)
"$TCDIST" synth --docs 800 --classes 2 --seed 4 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 1000 -o "$T/small.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 100000 -o "$T/big.h5" "$T/a.tsv" >/dev/null
common=(--epochs 1 --batch 64 --quiet --threads 1)
for x in sparse dense; do
  mpi 3 --data "$T/small.h5" "${common[@]}" --run-dir "$T/$x" --exchange $x
  mpi 3 --data "$T/small.h5" "${common[@]}" --run-dir "$T/${x}_det" --exchange $x --deterministic
  mpi 3 --data "$T/big.h5" "${common[@]}" --run-dir "$T/${x}_big" --exchange $x
done
[ "$(sha "$T/sparse_det")" = "$(sha "$T/dense_det")" ] || fail "deterministic: sparse and dense exchange differ"
close "$T/sparse" "$T/dense" 1e-6
"$TCDIST" train --data "$T/small.h5" "${common[@]}" --run-dir "$T/lazy1" --lazy-adam
mpi 2 --data "$T/small.h5" "${common[@]}" --run-dir "$T/lazy2" --lazy-adam --deterministic
"$TCDIST" train --data "$T/small.h5" "${common[@]}" --run-dir "$T/lazy1_det" --lazy-adam --deterministic
[ "$(sha "$T/lazy2")" = "$(sha "$T/lazy1_det")" ] || fail "lazy Adam: -np 2 differs from single-node (deterministic)"
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
b = lambda d: json.load(open(f"{t}/{d}/summary.json"))["comm_bytes_per_step"]
sp_s, sp_b, de_s, de_b = b("sparse"), b("sparse_big"), b("dense"), b("dense_big")
print(f"bytes/step: sparse {sp_s:.0f} (1k buckets) {sp_b:.0f} (100k buckets); dense {de_s:.0f} {de_b:.0f}")
assert sp_s < de_s and sp_b < de_b / 4, "the sparse exchange should move far less than the dense one"
assert de_b / de_s > 5, "dense bytes should grow with the table"
assert sp_b / sp_s < 2, "sparse bytes should follow the tokens per batch, not the table size"
print("ok: sparse == dense; sparse bytes follow tokens, not vocabulary")
PY
