#!/usr/bin/env bash
# Files edited by hand, so that they are well-formed HDF5 and may pass their checksum, but hold what
# no run writes: a checkpoint with a counter out of range (negative, or an epoch beyond its step) or
# a non-finite or negative optimizer state is refused by name and the run falls back to the older
# checkpoint, ending with the parameters of an uninterrupted run; a counter that passes the
# checksum but not this run's epoch length stops the run with an error and writes no model.h5; a
# model.h5 with a NaN parameter is refused by eval and predict; a corpus whose first document is
# empty trains (the sanitizer build checks the copy of its no tokens).
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 300 --classes 3 --seed 41 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
args=(--data "$T/a.h5" --model cnn --wide 1 --dim 8 --filters 4 --widths 3,5 --epochs 2 --batch 32 --threads 1
      --quiet --checkpoint-every 3)
"$TCDIST" train "${args[@]}" --run-dir "$T/full"
ref=$(sha "$T/full")
# stopped after step 15 (epoch 2, step 5 of it; an epoch is 10 steps): checkpoints 12 and 15
set +e; TCDIST_FAULT=signal:0:14 "$TCDIST" train "${args[@]}" --run-dir "$T/stop" >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 3 ] && [ -f "$T/stop/checkpoints/ckpt-00000015.h5" ] || fail "no checkpoint at step 15 (exit $rc)"

# edit WHAT VALUE FILE: an attribute (an int64) or the first element of a dataset
edit() {
  "$PYTHON" - "$@" <<'PY'
import h5py, numpy as np, sys
what, value, path = sys.argv[1:]
with h5py.File(path, "r+") as f:
    if "/" in what:
        x = f[what][...]
        x.flat[0] = float(value)
        f[what][...] = x
    else:
        f.attrs[what] = np.int64(int(value))
PY
}

for case in "step_in_epoch -1|attribute 'step_in_epoch' is -1, out of range [0, 15]" \
            "epoch 16|attribute 'epoch' is 16, out of range [0, 15]" \
            "adam_t 9223372036854775807|attribute 'adam_t' is 9223372036854775807" \
            "optimizer/v nan|dataset 'optimizer/v' holds nan at element 0" \
            "optimizer/v -1|dataset 'optimizer/v' holds -1 at element 0" \
            "optimizer/m inf|dataset 'optimizer/m' holds inf at element 0" \
            "params/conv0.bias nan|dataset 'params/conv0.bias' holds nan at element 0"; do
  read -r what value <<<"${case%%|*}"; want=${case#*|}
  rm -rf "$T/r"; cp -r "$T/stop" "$T/r"
  edit "$what" "$value" "$T/r/checkpoints/ckpt-00000015.h5"
  timeout 120 "$TCDIST" train "${args[@]}" --run-dir "$T/r" 2>"$T/err" || fail "$what $value: exit $?: $(cat "$T/err")"
  grep -qF "ckpt-00000015.h5: damaged checkpoint: $want" "$T/err" || fail "$what $value: no '$want' in: $(cat "$T/err")"
  grep -q "falling back to .*ckpt-00000012.h5" "$T/err" || fail "$what $value: no fallback: $(cat "$T/err")"
  [ "$(sha "$T/r")" = "$ref" ] || fail "$what $value: the run from the older checkpoint differs"
done
echo "ok: 7 edited checkpoints refused by name; each run fell back to step 12 and ended as an uninterrupted one"

# inside an epoch of 10 steps, step 12 is out of this run's range; the file's checksum recomputed
# (inspect prints the one it computes), so only the trainer can tell
rm -rf "$T/r"; cp -r "$T/stop" "$T/r"
c="$T/r/checkpoints/ckpt-00000015.h5"
edit step_in_epoch 12 "$c"
sum=$({ "$TCDIST" inspect "$c" 2>&1 || true; } | sed -n 's/.*computed \([0-9a-f]*\)).*/\1/p')
[ -n "$sum" ] || fail "inspect did not report the checksum it computed"
"$PYTHON" - "$c" "$sum" <<'PY'
import h5py, numpy as np, sys
path, s = sys.argv[1], sys.argv[2].encode()
with h5py.File(path, "r+") as f:
    t = h5py.h5t.TypeID.copy(h5py.h5a.open(f.id, b"checksum").get_type())
    h5py.h5a.delete(f.id, b"checksum")
    h5py.h5a.create(f.id, b"checksum", t, h5py.h5s.create(h5py.h5s.SCALAR)).write(
        np.array(s.ljust(t.get_size(), b"\0"), dtype=f"S{t.get_size()}"), mtype=t)
PY
"$TCDIST" inspect "$c" >/dev/null || fail "the recomputed checksum does not verify"
set +e; timeout 120 "$TCDIST" train "${args[@]}" --run-dir "$T/r" 2>"$T/err"; rc=$?; set -e
[ $rc -eq 1 ] && grep -qF "ckpt-00000015.h5: damaged checkpoint: step_in_epoch 12, but an epoch has 10 steps" "$T/err" ||
  fail "step_in_epoch 12 of 10: exit $rc: $(cat "$T/err")"
[ ! -e "$T/r/model.h5" ] || fail "step_in_epoch 12 of 10: a model.h5 was written"
echo "ok: a checksum-valid step_in_epoch beyond the epoch stops the run, naming the file"

# a model.h5 holding a NaN
cp "$T/full/model.h5" "$T/nan.h5"
edit params/out.bias nan "$T/nan.h5"
for cmd in "eval --data $T/a.h5" "predict $T/a.tsv"; do
  set +e; $TCDIST $cmd --model "$T/nan.h5" >/dev/null 2>"$T/err"; rc=$?; set -e
  [ $rc -eq 1 ] && grep -qF "nan.h5: damaged model: tensor 'params/out.bias' holds nan at element 0" "$T/err" ||
    fail "$cmd on a NaN model: exit $rc: $(cat "$T/err")"
done
echo "ok: a model with a NaN parameter is refused by eval and predict"

# an empty first document (prepare never writes one; an edited corpus can)
cp "$T/a.h5" "$T/e.h5"
"$PYTHON" - "$T/e.h5" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1], "r+") as f:
    o = f["offsets"][...]
    o[1] = 0
    f["offsets"][...] = o
PY
"$TCDIST" train --data "$T/e.h5" --run-dir "$T/e" --model cnn --batch 1 --max-steps 2 --no-shuffle --threads 1 --quiet \
  --no-checkpoint 2>"$T/err" || fail "an empty first document: exit $?: $(cat "$T/err")"
echo "ok: edited files"
