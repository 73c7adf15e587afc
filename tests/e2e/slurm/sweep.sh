#!/usr/bin/env bash
# slurm/sweep.sbatch under a real (private) Slurm: a 3-task job array over a grid file (comments
# and blank lines skipped) trains each task into RUN_ROOT/task-<i> with its own line's flags and
# seed (BASE_SEED + i unless the line sets --seed); merge-sweep.py then prints one table with a
# header and 3 rows, best valid_accuracy first (TSV and Markdown).
source "$(dirname "$0")/harness.sh"
W=$T/work
"$TCDIST" synth --docs 3000 --classes 3 --seed 8 -o "$W/a.tsv" >/dev/null
"$TCDIST" synth --docs 600 --classes 3 --seed 8 --part 1 -o "$W/b.tsv" >/dev/null
"$TCDIST" prepare -o "$W/a.h5" "$W/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$W/a.h5" -o "$W/b.h5" "$W/b.tsv" >/dev/null
cat > "$W/grid.txt" <<'G'
# learning rate x batch

--lr 0.004 --batch 64
  # an indented comment
--lr 0.0001 --batch 256 --epochs 1
--lr 0.01 --batch 128 --seed 77
G

export TCDIST TCDIST_ALLOW_ROOT=1 DATA=$W/a.h5 VALID=$W/b.h5 RUN_ROOT=$W/sweep BASE_SEED=100 TRAIN_ARGS="--epochs 2 --quiet"
set +e
timeout 150 sbatch --wait --export=ALL --chdir="$W" --array=1-3 --ntasks=1 --cpus-per-task=1 --signal=B:USR1@30 \
  --time=10 --output="$W/sweep-%A_%a.out" "$TCDIST_SRC/slurm/sweep.sbatch" "$W/grid.txt" --hidden 8 > "$W/sbatch.out"
rc=$?
set -e
cat "$W"/sweep-*.out || true
[ $rc = 0 ] || fail "sbatch --wait of the array exited $rc"
for i in 1 2 3; do
  [ -s "$W/sweep/task-$i/model.h5" ] || fail "task $i wrote no model.h5"
  grep -q '"hidden": 8' "$W/sweep/task-$i/config.json" || fail "task $i: the script argument --hidden 8 was lost"
done
seed() { sed -n 's/.*"seed": \([0-9]*\).*/\1/p' "$W/sweep/task-$1/config.json"; }
[ "$(seed 1)" = 101 ] || fail "task 1 seed $(seed 1), expected 101"
[ "$(seed 2)" = 102 ] || fail "task 2 seed $(seed 2), expected 102"
[ "$(seed 3)" = 77 ] || fail "task 3 seed $(seed 3), expected 77 (set by its line)"
grep -q '"epochs": 1' "$W/sweep/task-2/config.json" || fail "task 2: its line's --epochs 1 did not win over TRAIN_ARGS"
grep -q '"lr": 0.01' "$W/sweep/task-3/config.json" || fail "task 3 did not get --lr 0.01"

"$PYTHON" "$TCDIST_SRC/slurm/merge-sweep.py" "$W/sweep" > "$W/table.tsv"
cat "$W/table.tsv"
"$PYTHON" - "$W/table.tsv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0].split("\t")
assert head[0] == "task" and "valid_accuracy" in head and "args" in head, f"bad header {head}"
rows = [dict(zip(head, l.split("\t"))) for l in lines[1:]]
assert len(rows) == 3, f"{len(rows)} rows, expected 3"
acc = [float(r["valid_accuracy"]) for r in rows]
assert acc == sorted(acc, reverse=True), f"not sorted by valid_accuracy: {acc}"
assert sorted(r["task"] for r in rows) == ["1", "2", "3"], rows
assert all(r["status"] == "done" for r in rows), rows
# the tiny learning rate with one epoch must be the worst
assert rows[-1]["task"] == "2", f"expected task 2 (lr 1e-4, 1 epoch) last: {rows}"
assert "--lr 0.0001" in rows[-1]["args"] and "--seed 102" in rows[-1]["args"], rows[-1]
PY
"$PYTHON" "$TCDIST_SRC/slurm/merge-sweep.py" "$W/sweep" --format md > "$W/table.md"
[ "$(grep -c '^| [0-9]' "$W/table.md")" = 3 ] || fail "the Markdown table does not have 3 rows"
if "$PYTHON" "$TCDIST_SRC/slurm/merge-sweep.py" "$W" >/dev/null 2>"$W/err"; then fail "merge-sweep accepted a folder without tasks"; fi
grep -q 'no task-' "$W/err" || fail "merge-sweep's error does not say what is missing"
echo "ok: 3-task sweep array, seeds and flags per task, merged table sorted by valid_accuracy"
