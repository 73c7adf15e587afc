#!/usr/bin/env bash
# inspect --verify reads everything and recomputes every content hash: a corpus (content_sha256,
# vocab_sha256), a model (params_sha256, vocab_sha256), a checkpoint (its checksum), a run dir
# (model.h5 and every checkpoint). And every corpus read checks the values before use: a file whose
# datasets were rewritten (no checksum to catch it) with a token id outside the embedding table, a
# label outside the classes or offsets out of order is refused by inspect --verify, train and eval,
# naming the file and the dataset.
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
"$TCDIST" synth --docs 200 --classes 3 --seed 5 -o a.tsv >/dev/null
"$TCDIST" prepare -o a.h5 a.tsv >/dev/null
"$TCDIST" train --data a.h5 --run-dir run --epochs 1 --batch 20 --quiet --threads 1 --checkpoint-every 4 --keep 2 >/dev/null
out=$("$TCDIST" inspect --verify a.h5)
echo "$out" | grep -q "content_sha256 ok, vocab_sha256 ok (200 documents" || fail "corpus: $out"
out=$("$TCDIST" inspect --verify run)
[ "$(echo "$out" | grep -c ': tcdist-checkpoint version 2: checksum ok')" -eq 2 ] || fail "run dir checkpoints: $out"
echo "$out" | grep -q "model.h5: tcdist-model version 2: params_sha256 ok, vocab_sha256 ok" || fail "run dir model: $out"
"$TCDIST" inspect --verify --json run/model.h5 | "$PYTHON" -c 'import json,sys; j=json.load(sys.stdin); assert j["verified"].startswith("params_sha256 ok"), j'
echo "ok: --verify on a corpus, a model, a run dir (model + 2 checkpoints), --json"

# a flipped token in a checksummed chunk: plain inspect does not read the tokens, --verify does
cp a.h5 flip.h5
"$PYTHON" - flip.h5 <<'PY'
import h5py, sys
with h5py.File(sys.argv[1], "r") as f:
    c = f["tokens"].id.get_chunk_info(0)
with open(sys.argv[1], "r+b") as g:
    g.seek(c.byte_offset + 40); b = g.read(1); g.seek(c.byte_offset + 40); g.write(bytes([b[0] ^ 4]))
PY
"$TCDIST" inspect flip.h5 >/dev/null || fail "plain inspect should not need the tokens"
set +e
"$TCDIST" inspect --verify flip.h5 2>err; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "flip.h5" err && grep -q "tokens" err && grep -q "Fletcher32" err || fail "--verify on a flipped token: rc $rc: $(cat err)"
echo "ok: a flipped token: $(cat err)"

# values rewritten without a checksum to catch them: every reader refuses them before use
bad() { # bad NAME PYTHON-STATEMENT WHAT
  cp a.h5 "$1.h5"
  "$PYTHON" - "$1.h5" "$2" <<'PY'
import h5py, numpy as np, sys
with h5py.File(sys.argv[1], "r+") as f:
    def put(name, values):  # rewritten as a plain dataset: no Fletcher32, as a hand edit would
        v = np.array(values); del f[name]; f.create_dataset(name, data=v)
    t, o, l = f["tokens"][()], f["offsets"][()], f["labels"][()]
    exec(sys.argv[2])
PY
  for cmd in "inspect --verify $1.h5" "train --data $1.h5 --run-dir r_$1 --epochs 1 --quiet --threads 1 --no-checkpoint" \
             "eval --model run --data $1.h5"; do
    set +e
    "$TCDIST" $cmd >/dev/null 2>err; rc=$?
    set -e
    [ $rc -eq 1 ] && grep -q "$1.h5" err && grep -q "$3" err || fail "$1: tcdist $cmd: rc $rc: $(cat err)"
  done
  echo "ok: $1: inspect --verify, train and eval refuse it: $(head -1 err)"
}
bad token_id 't[17] = f.attrs["n_embeddings"]; put("tokens", t)' "dataset 'tokens': token 17 has id"
bad negative_id 't[-1] = -3; put("tokens", t)' "outside the embedding table"
bad label 'l[150] = 3; put("labels", l)' "dataset 'labels': document 150 has label 3"
bad offsets_order 'o[60], o[61] = o[61], o[60]; put("offsets", o)' "dataset 'offsets'"
bad offsets_end 'o[-1] = o[-1] + 5; put("offsets", o)' "dataset 'offsets'"
