#!/usr/bin/env bash
# --exchange shared (the default where every rank is on one node): the ranks hold one copy of the
# parameters and Adam state in MPI shared memory, and each sums and updates its slice. It must give
# the sparse exchange's results (bit-identical with --deterministic, for any -np, also when slices
# are empty or uneven), resume exactly, handle a NaN on one rank, and fall back to the sparse
# exchange, saying why, when the shared-memory folder has no room.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 900 --classes 2 --seed 7 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 3001 -o "$T/a.h5" "$T/a.tsv" >/dev/null
common=(--data "$T/a.h5" --epochs 2 --batch 50 --quiet --threads 1 --no-checkpoint)
cfg() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/config.json"))["exchange"])' "$1"; }

"$TCDIST" train "${common[@]}" --run-dir "$T/one_det" --deterministic
"$TCDIST" train "${common[@]}" --run-dir "$T/one"
for n in 2 3 4; do
  mpi $n "${common[@]}" --run-dir "$T/sh$n" --deterministic
  [ "$(cfg "$T/sh$n")" = shared ] || fail "-np $n on one node: the default exchange should be shared, got $(cfg "$T/sh$n")"
  mpi $n "${common[@]}" --run-dir "$T/sp$n" --deterministic --exchange sparse
  [ "$(sha "$T/sh$n")" = "$(sha "$T/one_det")" ] || fail "deterministic: shared -np $n differs from single-node"
  [ "$(sha "$T/sp$n")" = "$(sha "$T/one_det")" ] || fail "deterministic: sparse -np $n differs from single-node"
  mpi $n "${common[@]}" --run-dir "$T/def$n"
  close "$T/def$n" "$T/one" 1e-5
done
# threads inside the ranks, and a tiny model whose slices are partly empty (fewer than 1024 floats per rank)
mpi 2 "${common[@]}" --run-dir "$T/sh2t" --deterministic --threads 2
[ "$(sha "$T/sh2t")" = "$(sha "$T/one_det")" ] || fail "deterministic: shared -np 2 x 2 threads differs"
"$TCDIST" prepare -o "$T/tiny.h5" "$T/a.tsv" >/dev/null
tiny=(--data "$T/tiny.h5" --dim 1 --hidden 2 --epochs 1 --batch 64 --quiet --threads 1 --no-checkpoint --deterministic)
"$TCDIST" train "${tiny[@]}" --run-dir "$T/tiny1"
mpi 3 "${tiny[@]}" --run-dir "$T/tiny3" --exchange shared
[ "$(sha "$T/tiny3")" = "$(sha "$T/tiny1")" ] || fail "tiny model: shared -np 3 differs from single-node"
# rows cut by the edge of a slice (dim 5 does not divide the 1024-float alignment): the owner of each
# slice adds only its part of such a row (bag models hand their embedding backward over to it)
cut=(--data "$T/a.h5" --dim 5 --hidden 3 --epochs 1 --batch 50 --quiet --threads 1 --no-checkpoint)
"$TCDIST" train "${cut[@]}" --run-dir "$T/cut1" --deterministic
for n in 2 3; do
  mpi $n "${cut[@]}" --run-dir "$T/cut$n" --exchange shared --deterministic
  [ "$(sha "$T/cut$n")" = "$(sha "$T/cut1")" ] || fail "dim 5: shared -np $n differs from single-node"
done
# without --deterministic, -np 2: on the rank-buffers path the same float sums, in the same order, as
# the sparse exchange; the owners (the default for a bag model) add the documents in another order
TCDIST_SHARED_PATH=ranks mpi 2 "${cut[@]}" --run-dir "$T/cutf" --exchange shared
mpi 2 "${cut[@]}" --run-dir "$T/cutfs" --exchange sparse
[ "$(sha "$T/cutf")" = "$(sha "$T/cutfs")" ] || fail "dim 5, float: shared -np 2 (rank buffers) differs from sparse -np 2"
mpi 2 "${cut[@]}" --run-dir "$T/cutfo" --exchange shared
close "$T/cutfo" "$T/cutfs" 1e-6

# the two paths of a bag model (owners compute the rows from every rank's handed-over batch, the
# default; or, with TCDIST_SHARED_PATH=ranks, each rank's model adds its own rows and the owners sum
# the buffers): in fixed point the same bits, in float the same to 1e-6 (another order of the same
# sums), and the default the same bits as the owners' path run to run, 1 and 2 threads (the threads
# of a rank own ranges of rows, so their number changes no bit either); a bad or mismatched
# TCDIST_SHARED_PATH stops the run and names it
paths=(--data "$T/a.h5" --epochs 3 --batch 50 --threads 1 --no-checkpoint)
for mode in float det; do
  det=(); [ $mode = det ] && det=(--deterministic)
  for th in 1 2; do
    TCDIST_SHARED_PATH=owner mpi 2 "${paths[@]}" --run-dir "$T/po$mode$th" "${det[@]}" --threads $th --quiet
    TCDIST_SHARED_PATH=ranks mpi 2 "${paths[@]}" --run-dir "$T/pr$mode$th" "${det[@]}" --threads $th --quiet
    mpi 2 "${paths[@]}" --run-dir "$T/pa$mode$th" "${det[@]}" --threads $th --quiet
    if [ $mode = det ]; then
      [ "$(sha "$T/po$mode$th")" = "$(sha "$T/pr$mode$th")" ] || fail "det x $th threads: owner path differs from rank buffers"
    else
      close "$T/po$mode$th" "$T/pr$mode$th" 1e-6
    fi
    [ "$(sha "$T/pa$mode$th")" = "$(sha "$T/po$mode$th")" ] || fail "$mode x $th threads: the default differs from the owners' path"
  done
  [ "$(sha "$T/po${mode}1")" = "$(sha "$T/po${mode}2")" ] || fail "$mode: the owners' path with 2 threads differs from 1"
done
"$TCDIST" train "${paths[@]}" --run-dir "$T/p1" --deterministic --quiet
[ "$(sha "$T/podet1")" = "$(sha "$T/p1")" ] || fail "deterministic: shared -np 2 differs from single-node"
set +e
TCDIST_SHARED_PATH=fast mpi 2 "${paths[@]}" --run-dir "$T/pbad" --quiet 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "TCDIST_SHARED_PATH=fast: expected owner or ranks" "$T/err" \
  || fail "TCDIST_SHARED_PATH=fast: want an error naming it, got $rc: $(cat "$T/err")"

# bytes per step: only the step's statistics travel through MPI
"$PYTHON" - "$T/def2" "$T/sp2" <<'PY'
import json, sys
sh, sp = (json.load(open(d + "/summary.json"))["comm_bytes_per_step"] for d in sys.argv[1:])
print(f"MPI bytes/step: shared {sh:.0f}, sparse {sp:.0f}")
assert sh <= 64 and sp > 10 * sh, (sh, sp)
PY

# resume: killed at step 7 on rank 1, resumed from the step-6 checkpoint, bit-identical to a clean run
ck=(--data "$T/a.h5" --epochs 2 --batch 50 --quiet --threads 1 --deterministic --checkpoint-every 3)
mpi 2 "${ck[@]}" --run-dir "$T/clean"
TCDIST_FAULT=kill:1:7 mpi 2 "${ck[@]}" --run-dir "$T/killed" >/dev/null 2>&1 && fail "the killed run should fail"
mpi 2 "${ck[@]}" --run-dir "$T/killed" --resume
[ "$(sha "$T/killed")" = "$(sha "$T/clean")" ] || fail "shared: the resumed run differs from the uninterrupted one"

# a NaN gradient on rank 1 only: every rank stops, or every rank skips the batch
set +e
TCDIST_FAULT=nan:1:4 mpi 2 "${common[@]}" --run-dir "$T/nan" 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] || fail "a NaN gradient on rank 1 should stop the run"
grep -q "non-finite" "$T/err" || fail "no message about the NaN: $(cat "$T/err")"
TCDIST_FAULT=nan:1:4 mpi 2 "${common[@]}" --run-dir "$T/nan2" --skip-nonfinite 2>"$T/err"
grep -q "batch skipped" "$T/err" || fail "--skip-nonfinite did not say it skipped: $(cat "$T/err")"

# options the shared update cannot honour
set +e
mpi 2 "${common[@]}" --run-dir "$T/bad" --exchange shared --lazy-adam 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "lazy-adam" "$T/err" || fail "--exchange shared --lazy-adam: want exit 2 naming it, got $rc: $(cat "$T/err")"

# no room in the shared-memory folder: auto falls back to sparse and says why; shared is an error
M="$T/shm"
mkdir -p "$M"
if mount -t tmpfs -o size=1m tmpfs "$M" 2>/dev/null; then
  trap 'umount "$M" 2>/dev/null || true; rm -rf "$T"' EXIT
  export OMPI_MCA_osc_sm_backing_directory="$M"
  mpi 2 "${common[@]}" --run-dir "$T/fb" --deterministic 2>"$T/err" >/dev/null
  [ "$(cfg "$T/fb")" = sparse ] || fail "with a full shared-memory folder the exchange should fall back to sparse"
  [ "$(sha "$T/fb")" = "$(sha "$T/one_det")" ] || fail "the fallback run differs"
  set +e
  mpi 2 "${common[@]}" --run-dir "$T/fb2" --exchange shared 2>"$T/err"; rc=$?
  set -e
  [ $rc -ne 0 ] && grep -q "$M" "$T/err" || fail "--exchange shared without room: want an error naming $M, got $rc: $(cat "$T/err")"
  unset OMPI_MCA_osc_sm_backing_directory
  umount "$M"
else
  echo "note: cannot mount a tmpfs here (needs root): the no-room fallback is not exercised"
fi
echo "ok: shared == sparse == single-node; resume, NaN, fallback"
