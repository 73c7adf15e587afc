#!/usr/bin/env bash
# The shared exchange reserves its node-shared buffers when it makes them (posix_fallocate of the
# backing file), so that another job filling the shared-memory folder afterwards cannot make a
# store SIGBUS in the middle of a step. On a small tmpfs: a 2-rank run starts (its buffers fit),
# then a filler takes every free byte of the tmpfs while the run trains; the run must finish with
# exit 0 and the parameters of the same run without the tmpfs. Needs to mount a tmpfs (root):
# skipped (77) where that is not allowed.
source "$(dirname "$0")/../lib/mpi.sh"
M="$T/shm"
mkdir -p "$M"
if ! mount -t tmpfs -o size=48m tmpfs "$M" 2>/dev/null; then
  echo "skip: cannot mount a tmpfs here (needs root)"
  exit 77
fi
trap 'umount "$M" 2>/dev/null || true; rm -rf "$T"' EXIT
cfg() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/config.json"))["exchange"])' "$1"; }
"$TCDIST" synth --docs 3000 --classes 2 --seed 11 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --ngrams 2 --buckets 40000 -o "$T/a.h5" "$T/a.tsv" >/dev/null
# about 51k x 16 parameters: params, m, v, gradients x 2 ranks and fixed-point sums x 2 (~30 MB of 48)
common=(--data "$T/a.h5" --epochs 6 --batch 20 --quiet --threads 1 --no-checkpoint --deterministic --dim 16)
mpi 2 "${common[@]}" --run-dir "$T/ref"
[ "$(cfg "$T/ref")" = shared ] || fail "the reference run should use the shared exchange"

export OMPI_MCA_osc_sm_backing_directory="$M"
used() { df -B1 --output=used "$M" | tail -1 | tr -d ' '; }
mpi 2 "${common[@]}" --run-dir "$T/full" 2>"$T/err" &
pid=$!
# wait until the buffers are reserved (the tmpfs use jumps), then fill what is left
for _ in $(seq 1 600); do
  [ "$(used)" -gt $((8 << 20)) ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
reserved=$(used)
[ "$reserved" -gt $((8 << 20)) ] || { wait $pid || true; cat "$T/err"; fail "the run never reserved its buffers in $M (used $reserved bytes)"; }
dd if=/dev/zero of="$M/filler" bs=1M 2>/dev/null || true   # until the tmpfs is full
free=$(df -B1 --output=avail "$M" | tail -1 | tr -d ' ')
kill -0 $pid 2>/dev/null || echo "note: the run had already finished when the tmpfs was full"
set +e
wait $pid
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$T/err"; fail "with $M filled up during the run: exit $rc (SIGBUS is 135/138)"; }
[ "$(cfg "$T/full")" = shared ] || fail "the run should have used the shared exchange"
[ "$(sha "$T/full")" = "$(sha "$T/ref")" ] || fail "the run on a filled-up tmpfs differs from the reference"
echo "ok: $((reserved >> 20)) MB reserved at start; the tmpfs filled up ($free bytes free) during the run; it finished, bit-identical"

# no room at the start: a clean fallback to the sparse exchange (named), as before
rm -f "$M/filler"
dd if=/dev/zero of="$M/filler" bs=1M count=40 2>/dev/null
mpi 2 "${common[@]}" --run-dir "$T/fb" 2>"$T/err"
[ "$(cfg "$T/fb")" = sparse ] || fail "without room the exchange should fall back to sparse: $(cat "$T/err")"
[ "$(sha "$T/fb")" = "$(sha "$T/ref")" ] || fail "the fallback run differs"
set +e
mpi 2 "${common[@]}" --run-dir "$T/fb2" --exchange shared 2>"$T/err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "$M" "$T/err" || fail "--exchange shared without room: want an error naming $M, got $rc: $(cat "$T/err")"
[ -z "$(ls "$M" | grep -v '^filler$')" ] || fail "files left behind in $M: $(ls "$M")"
echo "ok: no room at start: fell back to sparse, naming $M; nothing left behind"
