#!/usr/bin/env bash
# train/eval/predict refuse bad flags and bad inputs with clear messages and non-zero exits,
# before doing any work, and leave nothing half-written.
set -uo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# expect CODE PATTERN -- command...: exit status CODE and stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"; local rc=$?
  [ $rc -eq "$code" ] || { cat "$T/err"; fail "'$*' exited $rc, expected $code"; }
  grep -qE -- "$pat" "$T/err" || { cat "$T/err"; fail "'$*': stderr lacks /$pat/"; }
}
"$TCDIST" synth --docs 400 --classes 2 --seed 3 -o "$T/a.tsv" >/dev/null || fail synth
"$TCDIST" synth --docs 100 --classes 2 --seed 3 --part 1 -o "$T/b.tsv" >/dev/null || fail synth
"$TCDIST" prepare --format tsv -o "$T/a.h5" "$T/a.tsv" >/dev/null || fail prepare
"$TCDIST" prepare --format tsv -o "$T/other.h5" "$T/b.tsv" >/dev/null || fail prepare other

expect 2 "unknown option '--dimm'" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r" --dimm 3
expect 2 "option '--dim'.*not an integer" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r" --dim abc
expect 2 "option '--lr'.*out of range" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r" --lr -1
expect 2 "option '--schedule'.*not one of" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r" --schedule step
expect 2 "required" -- "$TCDIST" train --data "$T/a.h5"
expect 1 "missing.h5" -- "$TCDIST" train --data "$T/missing.h5" --run-dir "$T/r"
printf 'not hdf5\n' >"$T/junk.h5"
expect 1 "junk.h5: not an HDF5 file" -- "$TCDIST" train --data "$T/junk.h5" --run-dir "$T/r"
expect 1 "not prepared with the vocabulary" -- "$TCDIST" train --data "$T/a.h5" --valid "$T/other.h5" --run-dir "$T/r"
[ ! -e "$T/r/model.h5" ] || fail "a refused run wrote a model"
touch "$T/file"
expect 1 "run-dir.*cannot create" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/file/sub"
"$TCDIST" train --data "$T/a.h5" --run-dir "$T/ok" --epochs 1 --quiet || fail "train"
expect 1 "already holds a trained model" -- "$TCDIST" train --data "$T/a.h5" --run-dir "$T/ok" --epochs 1
"$TCDIST" train --data "$T/a.h5" --run-dir "$T/ok" --epochs 1 --quiet --overwrite || fail "--overwrite"
expect 1 "not prepared with the model's vocabulary" -- "$TCDIST" eval --model "$T/ok" --data "$T/other.h5"
expect 1 "no such model file" -- "$TCDIST" eval --model "$T/nothing" --data "$T/a.h5"
expect 1 "not a tcdist model" -- "$TCDIST" eval --model "$T/a.h5" --data "$T/a.h5"
expect 2 "option '--top-k'" -- "$TCDIST" predict --model "$T/ok" --top-k 0
# A damaged model (one parameter flipped) is detected by its checksum, not used.
cp "$T/ok/model.h5" "$T/bad.h5"
"$PYTHON" - "$T/bad.h5" <<'PY' || fail "could not damage the model"
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    f["params/out.bias"][0] += 1.0
PY
expect 1 "do not match their stored sha256" -- "$TCDIST" eval --model "$T/bad.h5" --data "$T/a.h5"
# Bytes flipped inside a tensor's stored data, a tensor deleted, a tensor of another shape: each
# message says which of the three it is.
"$PYTHON" - "$T/ok/model.h5" "$T" <<'PY' || fail "could not damage the model"
import h5py, numpy as np, shutil, sys
src, T = sys.argv[1], sys.argv[2]
with h5py.File(src, "r") as f:
    ds = f["params/embedding"]
    at = ds.id.get_offset() if ds.chunks is None else ds.id.get_chunk_info(0).byte_offset
b = bytearray(open(src, "rb").read())
b[at + 8] ^= 0xFF
open(T + "/flip.h5", "wb").write(b)
for name in ("del", "shape"):
    shutil.copy(src, f"{T}/{name}.h5")
with h5py.File(T + "/del.h5", "r+") as f:
    del f["params/out.bias"]
with h5py.File(T + "/shape.h5", "r+") as f:
    n = f["params/out.bias"].shape[0]
    del f["params/out.bias"]
    f["params/out.bias"] = np.zeros(n + 1, np.float32)
PY
expect 1 "flip.h5: damaged model: dataset 'params/embedding': read failed: data error detected by Fletcher32" -- \
  "$TCDIST" eval --model "$T/flip.h5" --data "$T/a.h5"
expect 1 "del.h5: damaged model: tensor 'params/out.bias' missing" -- "$TCDIST" eval --model "$T/del.h5" --data "$T/a.h5"
expect 1 "shape.h5: damaged model: tensor 'params/out.bias' is 2 x 1, its model config makes it 1 x 1" -- \
  "$TCDIST" eval --model "$T/shape.h5" --data "$T/a.h5"
echo "ok: bad flags and inputs are refused with clear messages"
