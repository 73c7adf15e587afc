#!/usr/bin/env bash
# --exchange hier (the default when the ranks span several nodes), on pretend nodes: TCDIST_NODE_SIZE=K
# groups K consecutive ranks into a node that shares nothing with the others. With --deterministic
# every layout (1x4, 2x2, 4x1, 3x1) gives the single-node parameters bit for bit; the default mode
# agrees to 1e-6; bytes between nodes are reported and follow 1/ranks-per-node; a run killed on a
# rank of the second node ends at once and resumes exactly; layouts and flags it cannot serve are
# refused or fall back, saying why.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 900 --classes 3 --seed 5 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 3001 -o "$T/a.h5" "$T/a.tsv" >/dev/null
common=(--data "$T/a.h5" --epochs 2 --batch 50 --lr 0.004 --hidden 16 --quiet --threads 1 --no-checkpoint)
cfg() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/config.json"))["exchange"])' "$1"; }
bytes() { "$PYTHON" -c 'import json,sys; print(int(json.load(open(sys.argv[1]+"/summary.json"))["comm_bytes_per_step"]))' "$1"; }
# nodes K N ARGS...: N ranks in pretend nodes of K
nodes() { local k=$1; shift; TCDIST_NODE_SIZE=$k mpi "$@"; }

"$TCDIST" train "${common[@]}" --run-dir "$T/one_det" --deterministic
"$TCDIST" train "${common[@]}" --run-dir "$T/one"
for layout in 4:4 2:4 1:4 1:3; do
  k=${layout%:*} n=${layout#*:}
  name="$((n / k))x$k"
  nodes "$k" "$n" "${common[@]}" --run-dir "$T/det_$name" --deterministic
  want=hier; [ "$k" = "$n" ] && want=shared
  [ "$(cfg "$T/det_$name")" = $want ] || fail "$name: the default exchange should be $want, got $(cfg "$T/det_$name")"
  [ "$(sha "$T/det_$name")" = "$(sha "$T/one_det")" ] || fail "deterministic: $name differs from single-node"
  nodes "$k" "$n" "${common[@]}" --run-dir "$T/def_$name"
  close "$T/def_$name" "$T/one" 1e-6
  echo "ok: $name ($want) bit-identical with --deterministic, within 1e-6 without"
done
# threads inside the ranks, and --exchange hier on one node (no exchange between nodes)
nodes 2 4 "${common[@]}" --run-dir "$T/det_2x2t" --deterministic --threads 2
[ "$(sha "$T/det_2x2t")" = "$(sha "$T/one_det")" ] || fail "deterministic: 2x2 with 2 threads differs"
mpi 2 "${common[@]}" --run-dir "$T/hier1" --deterministic --exchange hier
[ "$(sha "$T/hier1")" = "$(sha "$T/one_det")" ] || fail "deterministic: --exchange hier on one node differs"
# a tiny model: slices shorter than the 1024-float alignment, partly empty
"$TCDIST" prepare -o "$T/tiny.h5" "$T/a.tsv" >/dev/null
tiny=(--data "$T/tiny.h5" --dim 1 --hidden 2 --epochs 1 --batch 64 --quiet --threads 1 --no-checkpoint --deterministic)
"$TCDIST" train "${tiny[@]}" --run-dir "$T/tiny1"
nodes 3 6 "${tiny[@]}" --run-dir "$T/tiny6"
[ "$(sha "$T/tiny6")" = "$(sha "$T/tiny1")" ] || fail "tiny model: 2x3 differs from single-node"

# bytes between nodes per step and rank: with 2 ranks per node each sends its half of the node's
# rows and dense tensors, so about half of what a rank of the sparse exchange sends
nodes 2 4 "${common[@]}" --run-dir "$T/sp_2x2" --exchange sparse
h=$(bytes "$T/def_2x2") s=$(bytes "$T/sp_2x2") h1=$(bytes "$T/def_4x1")
echo "bytes/step per rank: hier 2x2 $h, hier 4x1 $h1, sparse 2x2 $s"
[ "$h" -gt 0 ] && [ "$((h * 10))" -le "$((s * 7))" ] || fail "hier 2x2 should send well under the sparse exchange's bytes ($h vs $s)"

# a rank of the second node killed at step 7: the job ends at once; resumed, it is bit-identical
ck=(--data "$T/a.h5" --epochs 2 --batch 50 --quiet --threads 1 --deterministic --checkpoint-every 3)
nodes 2 4 "${ck[@]}" --run-dir "$T/clean"
start=$(date +%s)
set +e
TCDIST_FAULT=kill:3:7 nodes 2 4 "${ck[@]}" --run-dir "$T/killed" >"$T/out" 2>&1; rc=$?
set -e
secs=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "the killed run should fail, not hang (status $rc)"
[ $secs -le 30 ] || fail "a rank killed on the second node took $secs s to end the job"
grep -q "rank 3" "$T/out" || { cat "$T/out"; fail "no message names rank 3"; }
nodes 2 4 "${ck[@]}" --run-dir "$T/killed" --resume
[ "$(sha "$T/killed")" = "$(sha "$T/clean")" ] || fail "hier: the resumed run differs from the uninterrupted one"
# ... and resumed on another layout (4 x 1)
TCDIST_FAULT=kill:3:7 nodes 2 4 "${ck[@]}" --run-dir "$T/killed2" >/dev/null 2>&1 && fail "the killed run should fail"
nodes 1 4 "${ck[@]}" --run-dir "$T/killed2" --resume
[ "$(sha "$T/killed2")" = "$(sha "$T/clean")" ] || fail "hier: resumed as 4x1, the run differs"
echo "ok: a kill on node 2 ended the job in $secs s; resumed bit-identical, also as 4x1"

# what hier cannot serve
set +e
nodes 2 4 "${common[@]}" --run-dir "$T/bad" --exchange shared 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "exchange hier" "$T/err" || fail "--exchange shared over 2 nodes: want an error pointing to hier, got $rc: $(cat "$T/err")"
set +e
nodes 2 4 "${common[@]}" --run-dir "$T/bad" --exchange hier --lazy-adam 2>"$T/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "lazy-adam" "$T/err" || fail "--exchange hier --lazy-adam: want exit 2 naming it, got $rc: $(cat "$T/err")"
# nodes of 2, 2 and 1 ranks: auto falls back to sparse and says why (same parameters), hier is an error
TCDIST_NODE_SIZE=2 timeout 300 "$MPIRUN" -n 5 "$TCDIST" train --data "$T/a.h5" --epochs 2 --batch 50 --lr 0.004 --hidden 16 --threads 1 \
  --no-checkpoint --run-dir "$T/uneven" --deterministic >"$T/out" 2>&1
[ "$(cfg "$T/uneven")" = sparse ] || fail "uneven nodes: auto should pick sparse, got $(cfg "$T/uneven")"
grep -q "different numbers of ranks" "$T/out" || fail "uneven nodes: no message says why: $(cat "$T/out")"
[ "$(sha "$T/uneven")" = "$(sha "$T/one_det")" ] || fail "uneven nodes: the sparse run differs"
set +e
nodes 2 5 "${common[@]}" --run-dir "$T/bad" --exchange hier 2>"$T/err"; rc=$?
TCDIST_NODE_SIZE=x timeout 60 "$MPIRUN" -n 2 "$TCDIST" train "${common[@]}" --run-dir "$T/bad" 2>"$T/err2"; rc2=$?
set -e
[ $rc -ne 0 ] && grep -q "different numbers of ranks" "$T/err" || fail "--exchange hier on uneven nodes: got $rc: $(cat "$T/err")"
[ $rc2 -ne 0 ] && grep -q "TCDIST_NODE_SIZE=x" "$T/err2" || fail "TCDIST_NODE_SIZE=x: want an error naming it, got $rc2: $(cat "$T/err2")"
echo "ok: hier == single-node on pretend nodes; bytes, kill, resume, refusals"
