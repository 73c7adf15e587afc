#!/usr/bin/env bash
# slurm/train.sbatch under a real (private) Slurm: `sbatch --wait` with 2 tasks via srun --mpi=pmix
# on a small synthetic corpus finishes, writes model.h5, learns (valid accuracy > 0.8), and is not
# requeued (SLURM_RESTART_COUNT stays 0).
source "$(dirname "$0")/slurm_harness.sh"
W=$T/work
"$TCDIST" synth --docs 4000 --classes 2 --seed 3 -o "$W/a.tsv" >/dev/null
"$TCDIST" synth --docs 1000 --classes 2 --seed 3 --part 1 -o "$W/b.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$W/a.h5" -o "$W/b.h5" "$W/b.tsv" >/dev/null

export TCDIST TCDIST_ALLOW_ROOT=1 DATA=$W/a.h5 VALID=$W/b.h5 RUN_DIR=$W/run TRAIN_ARGS="--epochs 3 --quiet"
set +e
timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --signal=B:USR1@30 \
  --time=10 --output="$W/job-%j.out" "$TCDIST_SRC/slurm/train.sbatch" --seed 5 > "$W/sbatch.out"
rc=$?
set -e
cat "$W"/job-*.out || true
[ $rc = 0 ] || fail "sbatch --wait exited $rc"
[ -s "$W/run/model.h5" ] || fail "no model.h5 in the run dir"
grep -q 'srun --mpi=pmix' "$W"/job-*.out || fail "the job did not launch with srun --mpi=pmix"
grep -q 'restart 0 ' "$W"/job-*.out || fail "the job log does not show restart 0"
! grep -q 'requeueing' "$W"/job-*.out || fail "a finished job was requeued"
"$PYTHON" - "$W/run" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
c = json.load(open(d + "/config.json"))
assert s["world"] == 2, f"world {s['world']}, expected 2 ranks"
assert s["valid_accuracy"] > 0.8, f"valid_accuracy {s['valid_accuracy']} <= 0.8"
print(f"ok: 2 ranks, {s['steps']} steps, valid_accuracy {s['valid_accuracy']:.3f}")
PY
grep -q '"seed": 5' "$W/run/config.json" || fail "the script argument --seed 5 did not reach tcdist train"
echo "ok: train.sbatch under sbatch --wait with 2 tasks"
