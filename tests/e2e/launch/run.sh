#!/usr/bin/env bash
# Real launches through launch/tcdist-launch and the real binary: 2 MPI ranks x 1 thread and
# local (single-node OpenMP) mode 1 x 2, their summary.json; a refused train's exit status 1;
# SIGUSR1 to the launcher's pid (it execs) giving a checkpoint and exit status 3, in both modes.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
L=$TCDIST_SRC/launch/tcdist-launch
for v in $(compgen -e | grep '^SLURM_' || true); do unset "$v"; done
unset TCDIST_LAUNCH_TOPOLOGY
fail() { echo "FAIL: $*" >&2; exit 1; }
"$TCDIST" synth --docs 600 --classes 2 --seed 3 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --format tsv -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 3000 --classes 2 --seed 4 -o "$T/b.tsv" >/dev/null
"$TCDIST" prepare --format tsv -o "$T/b.h5" "$T/b.tsv" >/dev/null
# world_threads DIR: prints "W T" from DIR/summary.json.
world_threads() {
  "$PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["world"], s["threads"])' "$1/summary.json"
}

"$L" -n 2 -t 1 --allow-root --oversubscribe -- train --data "$T/a.h5" --run-dir "$T/r2" --epochs 1 --quiet
[[ $(world_threads "$T/r2") == "2 1" ]] || fail "2 ranks x 1 thread: summary has $(world_threads "$T/r2")"

# Local mode: no mpirun (checked by --dry-run), one process with 2 threads.
"$L" -n 1 -t 2 --oversubscribe --dry-run -- train --data x | tail -n 1 | grep -q "^$TCDIST train --data x --threads 2\$" \
  || fail "1 x 2 is not local mode"
"$L" -n 1 -t 2 --oversubscribe -- train --data "$T/a.h5" --run-dir "$T/r1" --epochs 1 --quiet
[[ $(world_threads "$T/r1") == "1 2" ]] || fail "local 1 x 2: summary has $(world_threads "$T/r1")"

# A train that is refused (missing --data file) exits 1 through the launcher, in both modes.
for n in 1 2; do
  rc=0; "$L" -n $n -t 1 --allow-root -- train --data "$T/absent.h5" --run-dir "$T/x$n" --quiet 2>"$T/err" || rc=$?
  [[ $rc == 1 ]] || fail "-n $n: refused train exited $rc through the launcher, not 1"
  grep -q "absent.h5" "$T/err" || fail "-n $n: the error does not name the file: $(cat "$T/err")"
done

# SIGUSR1 to the pid the launcher was started as: it is tcdist (local) or mpirun (which forwards
# it); the run checkpoints and the status 3 comes back.
for n in 1 2; do
  R=$T/s$n
  "$L" -n $n -t 1 --allow-root -- train --data "$T/b.h5" --run-dir "$R" --epochs 100000 --batch 8 --quiet \
    --log-every 10 2>"$T/err" &
  pid=$!
  for _ in $(seq 200); do [[ -s $R/metrics.jsonl ]] && break; sleep 0.1; done
  [[ -s $R/metrics.jsonl ]] || { kill -KILL $pid; fail "-n $n: no progress in 20 s"; }
  kill -USR1 $pid
  rc=0; wait $pid || rc=$?
  [[ $rc == 3 ]] || fail "-n $n: SIGUSR1 gave exit status $rc, not 3: $(cat "$T/err")"
  [[ -s $R/checkpoints/latest ]] || fail "-n $n: no checkpoint after SIGUSR1"
done
echo "ok: tcdist-launch real runs (2 x 1 over MPI, local 1 x 2, exit 1 and 3 passed through)"
