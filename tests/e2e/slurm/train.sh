#!/usr/bin/env bash
# slurm/train.sbatch under a real (private) Slurm: `sbatch --wait` with 2 tasks on a small synthetic
# corpus finishes, writes model.h5, learns (valid accuracy > 0.8) and is not requeued
# (SLURM_RESTART_COUNT stays 0), through each launcher: srun --mpi=pmix (the default), mpirun and
# launch/tcdist-launch, with the same parameters (--deterministic); and on 2 pretend nodes
# (TCDIST_NODE_SIZE=1) the default exchange is hier, with the same parameters.
source "$(dirname "$0")/harness.sh"
W=$T/work
"$TCDIST" synth --docs 4000 --classes 2 --seed 3 -o "$W/a.tsv" >/dev/null
"$TCDIST" synth --docs 1000 --classes 2 --seed 3 --part 1 -o "$W/b.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$W/a.h5" -o "$W/b.h5" "$W/b.tsv" >/dev/null

export TCDIST TCDIST_ALLOW_ROOT=1 DATA=$W/a.h5 VALID=$W/b.h5 TRAIN_ARGS="--epochs 3 --quiet --deterministic"
sha() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/summary.json"))["params_sha256"])' "$1"; }
# the same job through each launcher: srun --mpi=pmix (default), mpirun, launch/tcdist-launch
for launcher in srun mpirun tcdist-launch; do
  export RUN_DIR=$W/run-$launcher TCDIST_LAUNCHER=$launcher
  out=$W/job-$launcher.out
  set +e
  timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --signal=B:USR1@30 \
    --time=10 --output="$out" "$TCDIST_SRC/slurm/train.sbatch" --seed 5 > "$W/sbatch.out"
  rc=$?
  set -e
  cat "$out" || true
  [ $rc = 0 ] || fail "$launcher: sbatch --wait exited $rc"
  [ -s "$RUN_DIR/model.h5" ] || fail "$launcher: no model.h5 in the run dir"
  grep -q 'restart 0 ' "$out" || fail "$launcher: the job log does not show restart 0"
  ! grep -q 'requeueing' "$out" || fail "$launcher: a finished job was requeued"
  grep -q '"seed": 5' "$RUN_DIR/config.json" || fail "$launcher: the script argument --seed 5 did not reach tcdist train"
  "$PYTHON" - "$RUN_DIR" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
assert s["world"] == 2, f"{d}: world {s['world']}, expected 2 ranks"
assert s["threads"] == 1, f"{d}: threads {s['threads']}, expected 1 (--cpus-per-task=1)"
assert s["valid_accuracy"] > 0.8, f"{d}: valid_accuracy {s['valid_accuracy']} <= 0.8"
print(f"ok: {d}: 2 ranks, {s['steps']} steps, valid_accuracy {s['valid_accuracy']:.3f}")
PY
done
grep -q 'srun --mpi=pmix' "$W/job-srun.out" || fail "the default launcher is not srun --mpi=pmix"
grep -q 'mpirun -np 2' "$W/job-mpirun.out" || fail "TCDIST_LAUNCHER=mpirun did not use mpirun -np 2"
[ "$(sha "$W/run-srun")" = "$(sha "$W/run-mpirun")" ] || fail "srun and mpirun runs differ (--deterministic)"
[ "$(sha "$W/run-srun")" = "$(sha "$W/run-tcdist-launch")" ] || fail "srun and tcdist-launch runs differ (--deterministic)"
cfg() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/config.json"))["exchange"])' "$1"; }
[ "$(cfg "$W/run-srun")" = shared ] || fail "one node: the exchange should be shared, got $(cfg "$W/run-srun")"
# the same job on 2 pretend nodes of 1 task (the one slurmd stands for two nodes): auto picks hier
export RUN_DIR=$W/run-nodes TCDIST_LAUNCHER=srun TCDIST_NODE_SIZE=1
timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 \
  --output="$W/job-nodes.out" "$TCDIST_SRC/slurm/train.sbatch" --seed 5 > "$W/sbatch.out" || {
  cat "$W/job-nodes.out"; fail "2 pretend nodes: sbatch --wait failed"; }
unset TCDIST_NODE_SIZE
[ "$(cfg "$W/run-nodes")" = hier ] || fail "2 pretend nodes: the exchange should be hier, got $(cfg "$W/run-nodes")"
[ "$(sha "$W/run-nodes")" = "$(sha "$W/run-srun")" ] || fail "2 pretend nodes (hier) and one node differ (--deterministic)"
echo "ok: train.sbatch under sbatch --wait with 2 tasks, through srun, mpirun and tcdist-launch: same parameters; hier on 2 pretend nodes: the same"
