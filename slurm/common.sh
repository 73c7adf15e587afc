# Shared by train.sbatch, sweep.sbatch and tune.sbatch (sourced inside the batch script): environment, the
# job step with signal forwarding, and the requeue decision. Not meant to be run by itself.
#
#   tcd_setup                 thread variables, Open MPI as root (TCDIST_ALLOW_ROOT=1), finds $TCDIST
#   tcd_train RUN_DIR ARGS... runs `tcdist train --run-dir RUN_DIR ARGS...` as a job step in the
#                             background, forwards USR1/TERM to it, sets TCD_RC to its exit status
#                             (TCD_SUBCOMMAND=tune: `tcdist tune` instead, the same way)
#   tcd_finish                exits: 0 when training finished (TCD_DONE_FILE, default
#                             RUN_DIR/summary.json, was written); requeues the job when it stopped
#                             after writing a checkpoint (status 3) or hit its time limit/preemption;
#                             otherwise exits with the step's status
#
# Settings (environment):
#   TCDIST              the binary [tcdist on PATH, else <repo>/build/tcdist]
#   TCDIST_LAUNCHER     srun (default: srun --mpi=$TCDIST_SRUN_MPI), mpirun, or tcdist-launch
#                       (launch/tcdist-launch beside this folder, or $TCDIST_LAUNCH)
#   TCDIST_SRUN_MPI     srun's --mpi plugin [pmix]
#   TCDIST_ALLOW_ROOT   1: let Open MPI run as root (containers, test clusters)
#   TCDIST_MAX_RESTARTS requeue at most this many times [20]

tcd_log() { echo "tcdist-slurm[job ${SLURM_JOB_ID:-none} $(date +%H:%M:%S)]: $*"; }

tcd_setup() {
  # One OpenMP thread per allocated CPU of the task; OpenBLAS always single-threaded, so that the
  # two never multiply (tcdist pins BLAS to one thread itself too).
  export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}
  export OPENBLAS_NUM_THREADS=1
  if [ "${TCDIST_ALLOW_ROOT:-0}" = 1 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  if [ -z "${TCDIST:-}" ]; then
    if command -v tcdist >/dev/null 2>&1; then
      TCDIST=$(command -v tcdist)
    elif [ -x "$TCDIST_SLURM_DIR/../build/tcdist" ]; then
      TCDIST=$(cd "$TCDIST_SLURM_DIR/../build" && pwd)/tcdist
    else
      tcd_log "error: no tcdist binary: put it on PATH or set TCDIST=/path/to/tcdist"
      exit 1
    fi
  fi
  [ -x "$TCDIST" ] || { tcd_log "error: TCDIST=$TCDIST is not an executable file"; exit 1; }
  export TCDIST
  tcd_log "restart ${SLURM_RESTART_COUNT:-0} on $(hostname): ${SLURM_NTASKS:-1} tasks x $OMP_NUM_THREADS threads" \
          "on ${SLURM_JOB_NUM_NODES:-1} node(s) ${SLURM_JOB_NODELIST:-}"
}

TCD_CAUGHT=
TCD_STEP_PID=
# A signal for the batch shell (--signal=B:USR1@margin, scancel --batch, the time limit's TERM) is
# passed on to the job step as USR1: srun forwards USR1 to every task, but answers TERM by killing
# the tasks (SIGKILL), which would lose the checkpoint; mpirun also forwards USR1. tcdist treats
# USR1 like TERM: checkpoint at the next step boundary, exit 3.
tcd_forward() {
  TCD_CAUGHT=$1
  if [ -n "$TCD_STEP_PID" ] && kill -0 "$TCD_STEP_PID" 2>/dev/null; then
    tcd_log "caught SIG$1: sending USR1 to the job step (pid $TCD_STEP_PID) to checkpoint and stop"
    kill -USR1 "$TCD_STEP_PID" 2>/dev/null || true
  else
    tcd_log "caught SIG$1 (no job step running)"
  fi
}

tcd_train() {
  local run_dir=$1; shift
  local -a cmd
  TCD_RUN_DIR=$run_dir
  case "${TCDIST_LAUNCHER:-srun}" in
    srun)
      # srun no longer inherits --cpus-per-task from sbatch (Slurm 22.05): pass it again
      cmd=(srun "--mpi=${TCDIST_SRUN_MPI:-pmix}" --kill-on-bad-exit=1 "--cpus-per-task=${SLURM_CPUS_PER_TASK:-1}")
      [ -z "${SLURM_NTASKS:-}" ] || cmd+=("--ntasks=$SLURM_NTASKS")
      cmd+=("$TCDIST" "${TCD_SUBCOMMAND:-train}")
      ;;
    mpirun)
      cmd=(mpirun -np "${SLURM_NTASKS:-1}" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)
      [ "${SLURM_CPUS_PER_TASK:-1}" = 1 ] || cmd+=(--map-by "slot:PE=$SLURM_CPUS_PER_TASK")
      cmd+=("$TCDIST" "${TCD_SUBCOMMAND:-train}")
      ;;
    tcdist-launch)
      [ "${TCD_SUBCOMMAND:-train}" = train ] ||
        { tcd_log "error: tcdist-launch runs train only; use TCDIST_LAUNCHER=srun or mpirun"; exit 1; }
      # launch/tcdist-launch (ranks x threads from the allocation, srun with CPU binding); it
      # execs srun, so the USR1 below reaches srun all the same
      local launcher=${TCDIST_LAUNCH:-$TCDIST_SLURM_DIR/../launch/tcdist-launch}
      [ -x "$launcher" ] || { tcd_log "error: $launcher not found; set TCDIST_LAUNCH=/path/to/tcdist-launch"; exit 1; }
      cmd=("$launcher" --tcdist "$TCDIST")
      [ "${TCDIST_ALLOW_ROOT:-0}" != 1 ] || cmd+=(--allow-root)
      cmd+=(-- train)
      ;;
    *) tcd_log "error: TCDIST_LAUNCHER must be srun, mpirun or tcdist-launch, not '$TCDIST_LAUNCHER'"; exit 1 ;;
  esac
  trap 'tcd_forward USR1' USR1
  trap 'tcd_forward TERM' TERM
  tcd_log "${cmd[*]} --run-dir $run_dir $*"
  # in the background, so that bash runs the trap at once instead of after the step ends
  "${cmd[@]}" --run-dir "$run_dir" "$@" &
  TCD_STEP_PID=$!
  while :; do
    wait "$TCD_STEP_PID"
    TCD_RC=$?
    # wait returns early (128+signal) when a trapped signal arrives: wait again for the real exit
    kill -0 "$TCD_STEP_PID" 2>/dev/null || break
  done
  TCD_STEP_PID=
  tcd_log "job step exited with status $TCD_RC${TCD_CAUGHT:+ (after SIG$TCD_CAUGHT)}"
}

# tcd_job_state: this job's JobState (RUNNING, TIMEOUT, PREEMPTED, CANCELLED, ...). While Slurm
# ends a job that ran out of time, JobState reads COMPLETING; then the Reason tells why: that case
# prints COMPLETING:<Reason> (COMPLETING:TimeLimit).
tcd_job_state() {
  local info state
  info=$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null)
  state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$info" | head -n 1)
  [ "$state" != COMPLETING ] || state=$state:$(sed -n 's/.*Reason=\([A-Za-z_]*\).*/\1/p' <<<"$info" | head -n 1)
  echo "$state"
}

# Requeue uses $SLURM_JOB_ID, which in a job array is the array task's own id: only that task is
# requeued, and it keeps its id, its SLURM_ARRAY_TASK_ID and so its run dir.
tcd_finish() {
  local rc=${TCD_RC:-1} state requeue=0
  if [ "$rc" = 0 ]; then
    # srun can exit 0 when the step never launched: trust the summary tcdist writes at the end
    local done_file=${TCD_DONE_FILE:-${TCD_RUN_DIR:-}/summary.json}
    if [ -n "${TCD_RUN_DIR:-}" ] && [ ! -s "$done_file" ]; then
      tcd_log "error: the job step exited 0 but $done_file is missing (did the step launch?)"
      exit 1
    fi
    tcd_log "training finished"
    exit 0
  fi
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    tcd_log "not under Slurm: nothing to requeue; run the same command again to resume"
    exit "$rc"
  fi
  state=$(tcd_job_state)
  case "$state" in
    # checkpointed after USR1 (signal margin, scancel); or killed by the USR1 we forwarded before
    # tcdist had installed its handler (it then resumes from the previous checkpoint, if any)
    RUNNING) [ "$rc" != 3 ] && [ "$rc:$TCD_CAUGHT" != 138:USR1 ] || requeue=1 ;;
    TIMEOUT|PREEMPTED|COMPLETING:TimeLimit|COMPLETING:Preempt*) requeue=1 ;;  # from the newest checkpoint
    *) ;;                                            # cancelled by a user, or already requeued
  esac
  if [ $requeue = 0 ]; then
    tcd_log "not requeueing (status $rc, job state ${state:-unknown})"
    exit "$rc"
  fi
  if [ "${SLURM_RESTART_COUNT:-0}" -ge "${TCDIST_MAX_RESTARTS:-20}" ]; then
    tcd_log "not requeueing: already restarted ${SLURM_RESTART_COUNT} times (TCDIST_MAX_RESTARTS)"
    exit "$rc"
  fi
  tcd_log "status $rc, job state $state: requeueing job $SLURM_JOB_ID; it will resume from the checkpoint"
  if scontrol requeue "$SLURM_JOB_ID"; then
    exit 0
  fi
  tcd_log "scontrol requeue failed (submitted with --no-requeue?): resubmit the same script to resume"
  exit "$rc"
}
