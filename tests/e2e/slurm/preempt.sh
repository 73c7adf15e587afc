#!/usr/bin/env bash
# Preemption under a real (private) Slurm: train.sbatch with 2 tasks is sent USR1 on its batch shell
# mid-run (`scancel --batch --signal=USR1`, what --signal=B:USR1@margin does before a time limit);
# the script forwards it, tcdist checkpoints and exits 3, the script requeues the job, and the
# second run (SLURM_RESTART_COUNT=1) resumes from the checkpoint and finishes. Its parameters are
# bit-identical (params_sha256) to an uninterrupted run with the same settings and 2 ranks, run
# directly with mpirun (--deterministic makes this independent of srun vs mpirun placement).
source "$(dirname "$0")/harness.sh"
W=$T/work
"$TCDIST" synth --docs 60000 --classes 2 --seed 4 -o "$W/c.tsv" >/dev/null
"$TCDIST" prepare -o "$W/c.h5" "$W/c.tsv" >/dev/null
train_args=(--epochs 10 --batch 64 --deterministic --threads 1 --progress-secs 1000)

export TCDIST TCDIST_ALLOW_ROOT=1 DATA=$W/c.h5 RUN_DIR=$W/run TRAIN_ARGS="${train_args[*]}"
id=$(sbatch --parsable --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --signal=B:USR1@30 \
       --time=10 --output="$W/job.out" "$TCDIST_SRC/slurm/train.sbatch")
id=${id%%;*}
# wait until training is under way (the first metrics record), then signal the batch shell only
for i in $(seq 600); do
  [ -s "$W/run/metrics.jsonl" ] && break
  s=$(job_state "$id")
  case "$s" in COMPLETED|FAILED|CANCELLED|TIMEOUT) cat "$W/job.out"; fail "job $id ended ($s) before it could be signalled";; esac
  sleep 0.1
done
[ -s "$W/run/metrics.jsonl" ] || { cat "$W/job.out"; fail "no metrics.jsonl after 60 s"; }
scancel --batch --signal=USR1 "$id" || fail "scancel --batch --signal=USR1 $id failed"
echo "sent USR1 to the batch shell of job $id"
wait_job "$id" 150
cat "$W/job.out"
[ "$JOB_END_STATE" = COMPLETED ] || fail "job $id ended $JOB_END_STATE, expected COMPLETED"
grep -q 'caught SIGUSR1: sending USR1 to the job step' "$W/job.out" || fail "the batch script did not forward USR1"
grep -q 'job step exited with status 3' "$W/job.out" || fail "tcdist did not exit 3 after the signal"
grep -q 'stopped by signal' "$W/job.out" || fail "tcdist did not report its checkpointed stop"
grep -q 'requeueing job' "$W/job.out" || fail "the batch script did not requeue the job"
grep -q 'restart 1 ' "$W/job.out" || fail "no second run with SLURM_RESTART_COUNT=1"
grep -q 'resuming from .*: step [1-9]' "$W/job.out" || fail "the second run did not resume from a checkpoint"
[ "$(job_field "$id" Restarts)" = 1 ] || fail "Restarts=$(job_field "$id" Restarts), expected 1"
[ -s "$W/run/model.h5" ] || fail "no model.h5 after the resumed run"

sha() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/summary.json"))["params_sha256"])' "$1"; }
timeout 120 "${MPIEXEC:-mpirun}" -n 2 -x OMP_NUM_THREADS=1 -x OPENBLAS_NUM_THREADS=1 \
  "$TCDIST" train --data "$W/c.h5" --run-dir "$W/ref" "${train_args[@]}" --quiet
a=$(sha "$W/run"); b=$(sha "$W/ref")
[ "$a" = "$b" ] || fail "preempted+requeued run params_sha256 $a != uninterrupted $b"
echo "ok: stopped by USR1, requeued (restart 1), resumed; params_sha256 equals the uninterrupted run's ($a)"
