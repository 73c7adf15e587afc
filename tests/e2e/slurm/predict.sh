#!/usr/bin/env bash
# slurm/predict.sbatch under a real (private) Slurm: `sbatch --wait` with 2 tasks labels a prepared
# corpus through srun --mpi=pmix (the default) and mpirun, into JSONL and HDF5, exactly as
# `tcdist predict --data` alone does; a job without MODEL fails with exit 2 and writes nothing.
source "$(dirname "$0")/harness.sh"
W=$T/work
"$TCDIST" synth --docs 2000 --classes 3 --seed 3 -o "$W/a.tsv" >/dev/null
"$TCDIST" synth --docs 700 --classes 3 --seed 3 --part 1 -o "$W/b.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$W/a.h5" -o "$W/b.h5" "$W/b.tsv" >/dev/null
"$TCDIST" train --data "$W/a.h5" --run-dir "$W/run" --epochs 2 --quiet
"$TCDIST" predict --model "$W/run" --data "$W/b.h5" -o "$W/ref.jsonl" --top-k 2 --quiet
"$TCDIST" predict --model "$W/run" --data "$W/b.h5" -o "$W/ref.h5" --quiet

export TCDIST TCDIST_ALLOW_ROOT=1 MODEL=$W/run DATA=$W/b.h5
for launcher in srun mpirun; do
  for ext in jsonl h5; do
    export TCDIST_LAUNCHER=$launcher OUT=$W/$launcher.$ext
    extra=(--batch 100)
    [ $ext = h5 ] || extra+=(--top-k 2)
    out=$W/job-$launcher-$ext.out
    set +e
    timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
      --time=10 --output="$out" "$TCDIST_SRC/slurm/predict.sbatch" "${extra[@]}" >"$W/sbatch.out"
    rc=$?
    set -e
    cat "$out" || true
    [ $rc = 0 ] || fail "$launcher $ext: sbatch --wait exited $rc"
    grep -q "predicted 700 documents .*2 ranks" "$out" || fail "$launcher $ext: no progress line with 2 ranks in the job log"
  done
  cmp -s "$W/ref.jsonl" "$W/$launcher.jsonl" || fail "$launcher: JSONL differs from the single-process run"
  "$PYTHON" - "$W/ref.h5" "$W/$launcher.h5" <<'PY'
import h5py, sys
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
assert (a["labels"][()] == b["labels"][()]).all(), "labels differ"
assert a["probabilities"][()].tobytes() == b["probabilities"][()].tobytes(), "probabilities differ"
PY
  echo "ok: predict.sbatch through $launcher with 2 tasks: JSONL and HDF5 equal to the single-process run"
done
unset MODEL
export OUT=$W/none.jsonl TCDIST_LAUNCHER=srun
set +e
timeout 120 sbatch --wait --export=ALL --chdir="$W" --nodes=1 --ntasks-per-node=1 --cpus-per-task=1 --time=5 \
  --output="$W/job-nomodel.out" \
  "$TCDIST_SRC/slurm/predict.sbatch" >/dev/null
rc=$?
set -e
[ $rc != 0 ] || fail "a job without MODEL exited 0"
grep -q "set MODEL" "$W/job-nomodel.out" || { cat "$W/job-nomodel.out"; fail "no message about MODEL"; }
[ ! -e "$OUT" ] || fail "a job without MODEL wrote $OUT"
echo "ok: predict.sbatch without MODEL fails (sbatch exit $rc)"
