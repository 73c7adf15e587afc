#!/usr/bin/env bash
# --emb-lr: the embedding table learns by plain SGD (per document, following the schedule) and the
# other tensors by Adam. With --deterministic it is bit-identical through every exchange and layout
# (1 rank with 1 and 2 threads, shared, sparse, hier on pretend nodes); the table's Adam state stays
# zero in the checkpoint; config.json records it; a run killed halfway resumes bit-identical; it
# changes the result (it is not ignored); a bad value is a usage error.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 900 --classes 3 --seed 5 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 3001 -o "$T/a.h5" "$T/a.tsv" >/dev/null
base=(--data "$T/a.h5" --epochs 2 --batch 50 --lr 0.004 --hidden 16 --quiet --threads 1 --deterministic
      --checkpoint-every 5)
common=("${base[@]}" --emb-lr 0.3)
"$TCDIST" train "${common[@]}" --run-dir "$T/one"
"$TCDIST" train "${common[@]}" --run-dir "$T/one_t2" --threads 2
mpi 2 "${common[@]}" --run-dir "$T/shared2" --exchange shared
mpi 3 "${common[@]}" --run-dir "$T/sparse3" --exchange sparse
mpi 3 "${common[@]}" --run-dir "$T/lazy3" --exchange sparse --lazy-adam
TCDIST_NODE_SIZE=2 mpi 4 "${common[@]}" --run-dir "$T/hier2x2"
TCDIST_NODE_SIZE=1 mpi 3 "${common[@]}" --run-dir "$T/hier3x1"
for r in one_t2 shared2 sparse3 hier2x2 hier3x1; do
  [ "$(sha "$T/$r")" = "$(sha "$T/one")" ] || fail "--emb-lr --deterministic: $r differs from one rank"
done
"$TCDIST" train "${common[@]}" --run-dir "$T/lazy1" --lazy-adam
[ "$(sha "$T/lazy3")" = "$(sha "$T/lazy1")" ] || fail "--emb-lr --lazy-adam: -np 3 differs from one rank"
echo "ok: bit-identical over 1 rank x 1, 2 threads, shared 2, sparse 3, hier 2x2 and 3x1; lazy 3 = lazy 1"
"$TCDIST" train "${base[@]}" --run-dir "$T/adam"
[ "$(sha "$T/adam")" != "$(sha "$T/one")" ] || fail "--emb-lr changed nothing"
"$PYTHON" - "$T" <<'PY'
import glob, json, sys
import h5py, numpy as np
t = sys.argv[1]
cfg = json.load(open(f"{t}/one/config.json"))
assert cfg["emb_lr"] == 0.3, cfg.get("emb_lr")
assert "emb_lr" not in json.load(open(f"{t}/adam/config.json")), "a run without --emb-lr should not name it"
ck = sorted(glob.glob(f"{t}/one/checkpoints/ckpt-*.h5"))[-1]
with h5py.File(ck) as f:
    n_emb = f["params/embedding"].size  # the flat state begins with the table
    for name in ("optimizer/m", "optimizer/v"):
        a = np.asarray(f[name])
        assert not a[:n_emb].any(), f"{ck}: the embedding table's {name} should stay 0 under --emb-lr"
        assert a[n_emb:].any(), f"{ck}: the dense tensors' {name} should move (Adam)"
print("ok: config.json has emb_lr; the table's Adam m and v stay 0 in the checkpoint, the dense tensors' do not")
PY
# killed halfway, resumed: the same bits
TCDIST_FAULT=kill:1:23 mpi 2 "${common[@]}" --run-dir "$T/killed" >/dev/null 2>&1 && fail "the killed run should fail"
mpi 2 "${common[@]}" --run-dir "$T/killed" --resume 2>"$T/resume.err"
[ "$(sha "$T/killed")" = "$(sha "$T/one")" ] || fail "--emb-lr: the resumed run differs from the uninterrupted one"
grep -q "differ from the checkpoint" "$T/resume.err" && fail "a resume with the same flags warned: $(cat "$T/resume.err")"
echo "ok: killed at step 23 and resumed: bit-identical"
# resumed with other optimizer flags: they win, and the warning names each (a hand resume that
# forgets --emb-lr would switch the table to Adam)
TCDIST_FAULT=kill:0:23 "$TCDIST" train "${common[@]}" --run-dir "$T/switch" >/dev/null 2>&1 && fail "the killed run should fail"
"$TCDIST" train "${base[@]}" --run-dir "$T/switch" --weight-decay 0.01 2>"$T/switch.err" || fail "resume with other flags failed"
grep -q "settings that differ from the checkpoint's run: --weight-decay 0.01 (the checkpoint's run: 0), --emb-lr 0 (the checkpoint's run: 0.3)" \
  "$T/switch.err" || fail "the changed flags were not named: $(cat "$T/switch.err")"
echo "ok: a resume with other --emb-lr and --weight-decay names both"
set +e
"$TCDIST" train "${common[@]}" --run-dir "$T/bad" --emb-lr -1 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--emb-lr" "$T/err" || fail "--emb-lr -1: want exit 2 naming it, got $rc: $(cat "$T/err")"
echo "ok: --emb-lr -1 is a usage error"
