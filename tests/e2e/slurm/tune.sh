#!/usr/bin/env bash
# slurm/tune.sbatch under a real (private) Slurm: `sbatch --wait` with 2 tasks in groups of one rank
# finishes, both groups train trials, DIR/best/ is written, the job is not requeued, and the trials
# are those of a tune in one process (--deterministic).
source "$(dirname "$0")/harness.sh"
W=$T/work
"$TCDIST" synth --docs 800 --classes 2 --seed 3 -o "$W/a.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
export TCDIST TCDIST_ALLOW_ROOT=1 DATA=$W/a.h5 RUN_DIR=$W/tune TUNE_ARGS="--trials 4 --max-epochs 2 --eta 2 --deterministic"
for launcher in srun mpirun; do
  export TCDIST_LAUNCHER=$launcher RUN_DIR=$W/tune-$launcher
  out=$W/job-$launcher.out
  set +e
  timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 \
    --output="$out" "$TCDIST_SRC/slurm/tune.sbatch" --ranks-per-trial 1 >"$W/sbatch.out"
  rc=$?
  set -e
  cat "$out" || true
  [ $rc = 0 ] || fail "$launcher: sbatch --wait exited $rc"
  [ -s "$RUN_DIR/best/model.h5" ] || fail "$launcher: no best/model.h5"
  grep -q "2 group(s) of 1 rank(s)" "$out" || fail "$launcher: not 2 groups of 1 rank"
  for g in 0 1; do grep -q "^trial .* group $g:" "$out" || fail "$launcher: group $g trained nothing"; done
  ! grep -q 'requeueing' "$out" || fail "$launcher: a finished job was requeued"
done
"$TCDIST" tune --data "$W/a.h5" $TUNE_ARGS --run-dir "$W/one" --quiet >/dev/null
"$PYTHON" - "$W" <<'PY'
import json, sys
w = sys.argv[1]
def L(d):
    return sorted((r["id"], json.dumps(r["config"], sort_keys=True), r["metric"]) for r in map(json.loads, open(f"{w}/{d}/trials.jsonl")))
for d in ("tune-srun", "tune-mpirun"):
    assert L(d) == L("one"), f"{d}:\n{L(d)}\n{L('one')}"
print("ok:", len(L("one")), "trials, as in one process")
PY
echo "ok: tune.sbatch under sbatch --wait with 2 tasks, through srun and mpirun"
