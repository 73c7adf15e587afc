#!/usr/bin/env bash
# shellcheck disable=SC2046,SC2015  # $(bound T) expands to several NAME=VALUE words on purpose
# tcdist-launch --dry-run: the ranks x threads policy on injected machines (TCDIST_LAUNCH_TOPOLOGY),
# the exact environment and the key parts of the command for every mode, and its refusals.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
L=$TCDIST_SRC/launch/tcdist-launch
# The test must not depend on the Slurm job (if any) that runs it.
for v in $(compgen -e | grep '^SLURM_' || true); do unset "$v"; done
unset TCDIST_LAUNCH_TOPOLOGY
fail() { echo "FAIL: $*" >&2; exit 1; }

# run TOPOLOGY ARGS...: runs the launcher; sets $out (stdout), $err (stderr), $rc.
run() {
  local topo=$1; shift
  rc=0
  TCDIST_LAUNCH_TOPOLOGY=$topo "$L" "$@" >"$T/out" 2>"$T/err" || rc=$?
  out=$(<"$T/out"); err=$(<"$T/err")
}
# expect_env NAME=VALUE...: exactly these variable lines, in this order, before the command.
expect_env() {
  local want got
  want=$(printf '%s\n' "$@")
  got=$(printf '%s\n' "$out" | sed '$d')
  [[ $got == "$want" ]] || fail "environment lines differ:"$'\n'"got:"$'\n'"$got"$'\n'"want:"$'\n'"$want"
}
cmdline() { printf '%s\n' "$out" | tail -n 1; }
expect_cmd_has() { local c; c=$(cmdline); for p in "$@"; do [[ " $c " == *" $p "* ]] || fail "command lacks '$p': $c"; done; }
expect_cmd_lacks() { local c; c=$(cmdline); for p in "$@"; do [[ " $c " != *" $p "* ]] || fail "command has '$p': $c"; done; }
expect_ok() { [[ $rc == 0 ]] || fail "exit $rc, stderr: $err"; }
expect_err() { # STATUS SUBSTRING
  [[ $rc == "$1" ]] || fail "exit $rc (want $1); stderr: $err"
  [[ $err == *"$2"* ]] || fail "stderr lacks '$2': $err"
  [[ -z $out ]] || fail "printed a command despite the error: $out"
}
bound() { echo "OMP_NUM_THREADS=$1" OPENBLAS_NUM_THREADS=1 OMP_PROC_BIND=close OMP_PLACES=cores; }
B=$TCDIST
TRAIN=(-- train --data 'my data.h5' --run-dir R)

# 2 cores, 1 NUMA domain: auto -> local mode, 1 rank x 2 threads, no launcher at all.
run "cores=2 sockets=1 numa=1" --dry-run "${TRAIN[@]}"; expect_ok
expect_env $(bound 2)
[[ $(cmdline) == "$B train --data 'my data.h5' --run-dir R --threads 2" ]] || fail "local command: $(cmdline)"

# -n 2 on 2 cores: mpirun, 2 ranks x 1 thread, bound to cores.
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -n 2 "${TRAIN[@]}"; expect_ok
expect_env $(bound 1)
expect_cmd_has mpirun "-np 2" "--map-by slot:PE=1" "--bind-to core" --allow-run-as-root "$B train" "--threads 1"
expect_cmd_lacks --oversubscribe
[[ $(cmdline) == mpirun* ]] || fail "not started by mpirun: $(cmdline)"

# Two sockets with two NUMA domains: 2 x 8. Eight NUMA domains on 64 cores: 8 x 8.
run "cores=16 sockets=2 numa=2" --dry-run --allow-root "${TRAIN[@]}"; expect_ok
expect_env $(bound 8); expect_cmd_has "-np 2" "--map-by slot:PE=8" "--bind-to core" "--threads 8"
run "cores=64 sockets=2 numa=8" --dry-run --allow-root "${TRAIN[@]}"; expect_ok
expect_env $(bound 8); expect_cmd_has "-np 8" "--map-by slot:PE=8" "--threads 8"
# No NUMA information: one rank per socket.
run "cores=12 sockets=2 numa=0" --dry-run --allow-root "${TRAIN[@]}"; expect_ok
expect_env $(bound 6); expect_cmd_has "-np 2" "--map-by slot:PE=6"

# Overrides: -n only (threads = cores / n), -t only (ranks = cores / t), both.
run "cores=16 sockets=2 numa=2" --dry-run --allow-root -n 4 "${TRAIN[@]}"; expect_ok
expect_env $(bound 4); expect_cmd_has "-np 4" "--map-by slot:PE=4" "--threads 4"
run "cores=16 sockets=2 numa=2" --dry-run --allow-root -t 2 "${TRAIN[@]}"; expect_ok
expect_env $(bound 2); expect_cmd_has "-np 8" "--map-by slot:PE=2" "--threads 2"
run "cores=16 sockets=2 numa=2" --dry-run --allow-root -n 3 -t 5 "${TRAIN[@]}"; expect_ok
expect_env $(bound 5); expect_cmd_has "-np 3" "--map-by slot:PE=5" "--threads 5"
run "cores=16 sockets=2 numa=2" --dry-run -n 1 "${TRAIN[@]}"; expect_ok
expect_env $(bound 16); [[ $(cmdline) == "$B train "* ]] || fail "-n 1 is not local: $(cmdline)"
# --threads in the train arguments sets T and is not repeated; a different -t is refused.
run "cores=16 sockets=2 numa=2" --dry-run --allow-root -n 2 -- train --data x --threads 3; expect_ok
expect_env $(bound 3); expect_cmd_has "--map-by slot:PE=3"
[[ $(cmdline) == *"train --data x --threads 3" ]] || fail "--threads repeated: $(cmdline)"
run "cores=16 sockets=2 numa=2" --dry-run -t 2 -- train --data x --threads=3
expect_err 2 "disagrees with train --threads 3"
# The subcommand may follow the options directly.
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -n 2 train --data x; expect_ok
expect_cmd_has "-np 2" "$B train --data x --threads 1"

# Oversubscription: refused without --oversubscribe, then unbound.
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -n 4 "${TRAIN[@]}"
expect_err 2 "4 ranks x 1 threads = 4 > 2 physical cores: pass --oversubscribe"
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -t 4 -n 1 "${TRAIN[@]}"
expect_err 2 "pass --oversubscribe"
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -n 4 --oversubscribe "${TRAIN[@]}"; expect_ok
expect_env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_PROC_BIND=false OMPI_MCA_mpi_yield_when_idle=1
expect_cmd_has "-np 4" --oversubscribe "--bind-to none"; expect_cmd_lacks "--bind-to core" "--map-by"
# --oversubscribe when it is not needed changes nothing.
run "cores=2 sockets=1 numa=1" --dry-run --allow-root -n 2 --oversubscribe "${TRAIN[@]}"; expect_ok
expect_env $(bound 1); expect_cmd_has "--bind-to core"; expect_cmd_lacks --oversubscribe

# Hostfile: ranks for this machine times the hosts, the variables exported with -x.
printf '# cluster\nnode1 slots=2\n\nnode2\n' >"$T/hosts"
run "cores=16 sockets=2 numa=2" --dry-run --allow-root --hostfile "$T/hosts" "${TRAIN[@]}"; expect_ok
expect_env $(bound 8)
expect_cmd_has mpirun "--hostfile $T/hosts" "-np 4" "--map-by slot:PE=8" "--bind-to core" \
  "-x OMP_NUM_THREADS" "-x OPENBLAS_NUM_THREADS" "-x OMP_PROC_BIND" "-x OMP_PLACES" "--threads 8"
run "cores=16 sockets=2 numa=2" --dry-run --allow-root --hostfile "$T/absent" "${TRAIN[@]}"
expect_err 1 "cannot read '$T/absent'"

# Slurm: ranks and threads from the allocation, srun with pmix; srun need not exist for --dry-run.
export SLURM_JOB_ID=1 SLURM_NTASKS=4 SLURM_CPUS_PER_TASK=3
run "cores=2 sockets=1 numa=1" --dry-run --allow-root --mode srun "${TRAIN[@]}"; expect_ok
expect_env $(bound 3) SLURM_CPUS_PER_TASK=3 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
expect_cmd_has "srun --mpi=pmix --cpus-per-task=3 --ntasks=4 --cpu-bind=cores" "--threads 3"
[[ $(cmdline) == srun* ]] || fail "not started by srun: $(cmdline)"
run "cores=2 sockets=1 numa=1" --dry-run --allow-root --mode srun -n 2 "${TRAIN[@]}"; expect_ok
expect_cmd_has "--cpus-per-task=3 --ntasks=2"
unset SLURM_CPUS_PER_TASK    # default 1
run "cores=2 sockets=1 numa=1" --dry-run --allow-root --mode srun "${TRAIN[@]}"; expect_ok
expect_cmd_has "--cpus-per-task=1 --ntasks=4" "--threads 1"
# A real run with srun missing stops with a clear message (PATH without srun).
mkdir "$T/bin"
for c in lscpu awk id dirname basename nproc grep find wc sed; do
  p=$(command -v "$c" || true); [[ -n $p ]] && ln -s "$p" "$T/bin/$c"
done
rc=0; PATH="$T/bin" "$(command -v bash)" "$L" --allow-root --mode srun "${TRAIN[@]}" 2>"$T/err" || rc=$?
[[ $rc == 1 ]] && grep -q "srun is not on PATH" "$T/err" || fail "srun missing: exit $rc, $(cat "$T/err")"
unset SLURM_JOB_ID SLURM_NTASKS

# Root: the MPI modes need --allow-root; local mode does not.
if [[ $(id -u) == 0 ]]; then
  run "cores=16 sockets=2 numa=2" --dry-run "${TRAIN[@]}"
  expect_err 2 "running as root: Open MPI refuses to run as root; pass --allow-root"
  run "cores=2 sockets=1 numa=1" --dry-run "${TRAIN[@]}"; expect_ok
else
  run "cores=16 sockets=2 numa=2" --dry-run "${TRAIN[@]}"; expect_ok
  expect_cmd_lacks --allow-run-as-root
fi

# Bad command lines.
run "cores=2 sockets=1 numa=1" --dry-run -n 0 "${TRAIN[@]}"; expect_err 2 "-n: '0' is not a positive integer"
run "cores=2 sockets=1 numa=1" --dry-run --mode fast "${TRAIN[@]}"; expect_err 2 "--mode: 'fast'"
run "cores=2 sockets=1 numa=1" --dry-run -- eval --model x; expect_err 2 "launches 'train' only"
run "cores=2 sockets=1 numa=1" --dry-run --bogus "${TRAIN[@]}"; expect_err 2 "unknown option '--bogus'"
run "cores=2 sockets=1 numa=1" --dry-run; expect_err 2 "no subcommand"
run "cores=two" --dry-run "${TRAIN[@]}"; expect_err 2 "TCDIST_LAUNCH_TOPOLOGY: 'cores=two'"
run "" --help; expect_ok
for w in "single-node OpenMP" --allow-root --oversubscribe --dry-run --hostfile srun TCDIST_LAUNCH_TOPOLOGY; do
  [[ $out == *"$w"* ]] || fail "--help does not mention $w"
done

# The binary is found beside the script (../build/tcdist), or reported missing.
mkdir -p "$T/tree/launch" "$T/tree/build"; cp "$L" "$T/tree/launch/"
rc=0; env -u TCDIST PATH="$T/bin" "$(command -v bash)" "$T/tree/launch/tcdist-launch" -n 1 -- train --data x \
  2>"$T/err" || rc=$?
[[ $rc == 1 ]] && grep -q "cannot find tcdist" "$T/err" || fail "missing tcdist: exit $rc, $(cat "$T/err")"
ln -s "$TCDIST" "$T/tree/build/tcdist"
out=$(env -u TCDIST PATH="$T/bin" "$(command -v bash)" "$T/tree/launch/tcdist-launch" --dry-run -n 1 -- train)
[[ $(cmdline) == "$T/tree/build/tcdist train --threads "* ]] || fail "beside the script: $(cmdline)"
out=$(TCDIST_LAUNCH_TOPOLOGY="cores=2" "$L" --dry-run --tcdist "$TCDIST" -- train)
[[ $(cmdline) == "$TCDIST train --threads 2" ]] || fail "--tcdist: $(cmdline)"
# Real detection counts only the CPUs this process may use: pinned to one CPU, it is 1 x 1.
first_cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
if command -v taskset >/dev/null && [[ -n $first_cpu ]]; then
  out=$(taskset -c "$first_cpu" "$L" --dry-run -- train)
  [[ $(cmdline) == "$TCDIST train --threads 1" ]] || fail "pinned to CPU $first_cpu: $(cmdline)"
fi

# Installed (cmake --install): bin/tcdist-launch finds bin/tcdist beside it.
mkdir -p "$T/inst/bin"; cp "$L" "$T/inst/bin/"; ln -s "$TCDIST" "$T/inst/bin/tcdist"
out=$(env -u TCDIST PATH="$T/bin" "$(command -v bash)" "$T/inst/bin/tcdist-launch" --dry-run -n 1 -- train)
[[ $(cmdline) == "$T/inst/bin/tcdist train --threads "* ]] || fail "installed: $(cmdline)"
echo "ok: tcdist-launch dry runs"
