#!/usr/bin/env bash
# tcdist tune's parallel trials: finished trials and trained steps in the same --budget for one
# process against `mpirun -np 2 ... --ranks-per-trial 1` (two groups of one rank), interleaved
# repetitions, on a synthetic corpus (no data needed). Writes tests/bench/results/DATE-tune-groups.md.
#   bash tests/bench/bench_tune_groups.sh [REPS] [BUDGET]        (defaults 3, 10)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TCDIST=${TCDIST:-$ROOT/build/tcdist}
REPS=${1:-3} BUDGET=${2:-10}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_mpi_yield_when_idle=1
[ "$(id -u)" != 0 ] || export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$TCDIST" synth --docs 20000 --classes 4 --seed 6 -o "$W/a.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
args=(--data "$W/a.h5" --trials 500 --budget "$BUDGET" --threads 1 --quiet)
count() { "$PYTHON" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(len(r), sum(x["steps"] for x in r))' "$1"; }
PYTHON=${PYTHON:-python3}
rows=""
for i in $(seq "$REPS"); do
  rm -rf "$W/one" "$W/two"
  load1=$(cut -d' ' -f1 /proc/loadavg)
  "$TCDIST" tune "${args[@]}" --run-dir "$W/one" >/dev/null
  mpirun -np 2 "$TCDIST" tune "${args[@]}" --ranks-per-trial 1 --run-dir "$W/two" >/dev/null
  read -r n1 s1 <<<"$(count "$W/one/trials.jsonl")"
  read -r n2 s2 <<<"$(count "$W/two/trials.jsonl")"
  ratio=$("$PYTHON" -c "print(f'{$n2 / $n1:.2f}')")
  echo "rep $i: 1 process $n1 trials ($s1 steps), -np 2 $n2 trials ($s2 steps): $ratio x (load before: $load1)"
  rows+="| $i | $n1 | $s1 | $n2 | $s2 | $ratio | $load1 |"$'\n'
done
out=$ROOT/tests/bench/results/$(date -u +%F)-tune-groups.md
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)
{
  echo "# tcdist tune: one process against two groups of one rank, $(date -u +%F)"
  echo
  echo "Machine: $cpu, $(getconf _NPROCESSORS_ONLN) cores. \`tcdist synth --docs 20000 --classes 4\`, \`tune --trials 500 --budget $BUDGET"
  echo "--threads 1 --quiet\`, the default space; \`-np 2\`: \`mpirun -np 2 ... --ranks-per-trial 1\` (its time includes"
  echo "mpirun's start). Load: the 1-minute load average before each pair (other work on the machine)."
  echo
  echo "| rep | 1 process: trials | steps | -np 2: trials | steps | trials ratio | load |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s' "$rows"
} >"$out"
echo "wrote $out"
