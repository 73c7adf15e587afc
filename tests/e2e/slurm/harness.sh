# A real, private Slurm cluster on this machine for the Slurm tests (sourced; see stack.md,
# "A real Slurm cluster on one machine"). It makes a temporary folder $T, writes a munge key and a
# slurm.conf whose every path lies under $T and whose ports are free, starts munged, slurmctld and
# slurmd, waits until the node is idle and exports SLURM_CONF. On exit it cancels the jobs, stops
# the three daemons by their pid files and removes $T. Exits 77 (skipped) where there is no way to
# run Slurm here: not root, no packages and no apt-get, or a daemon that does not start.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; slurm_logs; exit 1; }

[ "$(id -u)" = 0 ] || skip "the Slurm tests start slurmctld/slurmd/munged and need root"
for tool in slurmctld slurmd sbatch squeue scontrol munged mungekey; do
  if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
    command -v apt-get >/dev/null 2>&1 || skip "Slurm is not installed ($tool missing) and there is no apt-get"
    echo "slurm_harness: installing Slurm and munge (launch/install-deps.sh --slurm)"
    timeout 600 bash "$TCDIST_SRC/launch/install-deps.sh" --slurm >/dev/null ||
      skip "could not install Slurm with launch/install-deps.sh --slurm"
    break
  fi
done
export PATH="$PATH:/usr/sbin"

T=$(mktemp -d /tmp/tcdist-slurm.XXXXXX)
chmod 0755 "$T"   # munged insists that its socket's folder is not group/other writable
mkdir -p "$T/munge" "$T/state" "$T/spool" "$T/log" "$T/run" "$T/work" "$T/tmp"
chmod 0755 "$T/munge"

# slurm_logs: the daemons' logs, for a failure message
slurm_logs() {
  [ -n "${T:-}" ] || return 0
  local f
  for f in "$T"/log/*.log; do
    [ -s "$f" ] || continue
    echo "---- last lines of $f"
    tail -n 25 "$f"
  done
}

# slurm_stop_pidfile FILE: TERM the daemon named in FILE, KILL it after 5 s
slurm_stop_pidfile() {
  local pid i
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

slurm_cleanup() {
  local rc=$? i
  set +e
  if [ -n "${SLURM_CONF:-}" ] && [ -s "$T/run/slurmctld.pid" ]; then
    # cancel what is left so that slurmstepd and the job's processes end before the daemons
    scancel --full $(squeue -h -o %i 2>/dev/null) >/dev/null 2>&1
    for i in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  slurm_stop_pidfile "$T/run/slurmd.pid"
  slurm_stop_pidfile "$T/run/slurmctld.pid"
  slurm_stop_pidfile "$T/run/munged.pid"
  rm -rf "$T"
  exit $rc
}
trap slurm_cleanup EXIT

# two free TCP ports in a row, from a range that no other local cluster is likely to use
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for try in $(seq 50); do
  P=$(( 20000 + (RANDOM % 20000) ))
  port_free "$P" && port_free $((P + 1)) && break
done

# munge: its own key, socket and daemon
mungekey --create --keyfile="$T/munge/munge.key" >/dev/null 2>&1 || skip "mungekey could not create a key"
chmod 0600 "$T/munge/munge.key"
MUNGE_SOCKET="$T/munge/munge.socket"
munged --socket="$MUNGE_SOCKET" --key-file="$T/munge/munge.key" --pid-file="$T/run/munged.pid" \
       --log-file="$T/log/munged.log" --seed-file="$T/munge/munged.seed" --force \
  || { slurm_logs; skip "munged did not start"; }
for i in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1 ||
  { slurm_logs; skip "munged does not answer on $MUNGE_SOCKET"; }

# slurm.conf: this node's hardware as slurmd sees it, under the name localhost
hw=$(slurmd -C | sed -n 's/^NodeName=[^ ]* //p' | head -n 1)
[ -n "$hw" ] || skip "slurmd -C printed no hardware line"
SLURM_NODE_CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
cat > "$T/slurm.conf" <<EOF
ClusterName=tcdisttest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$P
SlurmdPort=$((P + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$T/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
MailProg=/bin/true
KillWait=10
MinJobAge=300
# schedule every second, so that a requeued job starts again as soon as its credential expired
SchedulerParameters=sched_interval=1,bf_interval=1
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
# the pmix plugin's per-step folders (spmix_appdir_<uid>_<job>.<step>) go here, not to /tmp, where
# another test cluster's job 1 would collide with ours
TmpFS=$T/tmp
# job ids unlike another local cluster's: pmix namespaces and Open MPI's /dev/shm segments derive
# from them
FirstJobId=$(( RANDOM * 1000 + RANDOM % 1000 + 1000 ))
SlurmctldPidFile=$T/run/slurmctld.pid
SlurmdPidFile=$T/run/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 $hw
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"

slurmctld -f "$SLURM_CONF" || { slurm_logs; skip "slurmctld did not start"; }
slurmd -f "$SLURM_CONF" -N localhost || { slurm_logs; skip "slurmd did not start"; }
state=
for i in $(seq 120); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || { slurm_logs; skip "the Slurm node is not idle after 60 s (state '$state')"; }
echo "slurm_harness: slurmctld on port $P, node localhost idle ($SLURM_NODE_CPUS CPUs), SLURM_CONF=$SLURM_CONF"

# job_state ID: the job's JobState (COMPLETED, RUNNING, PENDING, ...)
job_state() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1; }
# job_field ID FIELD: one field of scontrol show job (ExitCode, Restarts, ...)
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
# wait_job ID SECONDS: waits until the job has ended (no longer pending, running or requeued);
# sets JOB_END_STATE to its final state; fails after SECONDS
wait_job() {
  local id=$1 limit=$2 s i
  JOB_END_STATE=
  for i in $(seq $((limit * 2))); do
    s=$(job_state "$id")
    case "$s" in
      COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) JOB_END_STATE=$s; return 0 ;;
    esac
    sleep 0.5
  done
  fail "job $id did not end within $limit s (state '$s')"
}
