#!/usr/bin/env bash
# A rank that dies ends the whole job quickly, non-zero, naming the rank; replicas that diverge are
# caught by --check-replicas. Faults come from TCDIST_FAULT (see docs/training.md, 'Faults and non-finite values').
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 2000 --classes 2 --seed 2 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
for f in kill:1:4 exit:2:4; do
  start=$(date +%s)
  set +e
  TCDIST_FAULT=$f timeout 120 "$MPIRUN" -n 3 "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r" --overwrite --quiet \
    --epochs 3 --batch 32 --threads 1 >"$T/out" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  rank=${f#*:}; rank=${rank%%:*}
  [ $rc -ne 0 ] || fail "$f: the job exited 0"
  [ $rc -ne 124 ] || fail "$f: the job hung (killed by timeout)"
  [ $secs -le 30 ] || fail "$f: the job took $secs s to end (limit 30)"
  grep -q "rank $rank" "$T/out" || { cat "$T/out"; fail "$f: no message names rank $rank"; }
  [ ! -e "$T/r/model.h5" ] || fail "$f: a failed job wrote a model"
  echo "ok: $f ended the job in $secs s with status $rc"
done
set +e
TCDIST_FAULT=perturb:1:3 "$MPIRUN" -n 2 "$TCDIST" train --data "$T/a.h5" --run-dir "$T/p" --quiet --epochs 1 \
  --batch 32 --threads 1 --check-replicas 2 >"$T/out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a diverged replica went unnoticed"
grep -q "parameters of rank 1 differ" "$T/out" || { cat "$T/out"; fail "no message names the diverged rank"; }
echo "ok: --check-replicas names the diverged rank"
