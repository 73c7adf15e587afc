#!/usr/bin/env bash
# --budget B without --trials: the search is sized to the budget. On a corpus where the default
# schedule (27 points: 39 trials) takes T27 seconds, a tune with B = max(6, 2.5 T27) must end after
# at least 60% of B (the default schedule would end by 40% of it) and within B and one step, run
# more trials than the default's 39, on the points 0, 1, 2, ... (the same configs as the --trials
# run's), in the brackets DIR/brackets.jsonl records. Then a budget-driven tune killed with SIGKILL
# and run again never trains a trial twice and replays its recorded brackets; a --trials N command
# is refused in its DIR. Under mpirun -np 2 (two groups) likewise.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 1000 --classes 3 --seed 8 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
now() { date +%s.%N; }
calc() { "$PYTHON" -c "import sys; print($1)" "${@:2}"; }

t0=$(now)
"$TCDIST" tune --data "$T/a.h5" --threads 1 --quiet --trials 27 --run-dir "$T/d" >/dev/null
t27=$(calc 'f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}"' "$t0" "$(now)")
[ "$(wc -l <"$T/d/trials.jsonl")" = 39 ] || fail "--trials 27 did not run 27 + 9 + 3 trials"
B=$(calc 'max(6, round(2.5 * float(sys.argv[1])))' "$t27")
echo "the default schedule (--trials 27): 39 trials in $t27 s; budget B = $B s"

# check DIR SECONDS [SLACK [TRIALS [GROUPS]]]: the budget-driven tune in DIR took SECONDS of B (at most
# B + SLACK) and ran more than TRIALS trials (39, the default schedule's), in GROUPS groups (1)
check() {
  "$PYTHON" - "$1" "$2" "$B" "$T/d" "${3:-2}" "${4:-39}" "${5:-1}" <<'PY'
import json, sys
d, ref = sys.argv[1], sys.argv[4]
s, B, slack, least = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[5]), int(sys.argv[6])
groups = int(sys.argv[7])
recs = [json.loads(l) for l in open(f"{d}/trials.jsonl")]
ids = [r["id"] for r in recs]
assert len(ids) == len(set(ids)), f"a trial ran twice: {ids}"
assert 0.6 * B <= s <= B + slack, f"took {s:.2f} s of a {B:.0f} s budget"
assert len(recs) > least, f"only {len(recs)} trials in {B:.0f} s (wanted more than {least})"
assert json.load(open(f"{d}/tune.json"))["trials"] == "budget"
# rung 0: the points 0..N-1, each with the config the --trials run gave it (same seed, same points);
# with G groups training at once, the budget may cut up to G - 1 of the last G points while a later
# one finishes (a cut trial is not journaled: a resumed tune trains it)
r0 = sorted(r["point"] for r in recs if r["rung"] == 0)
missing = sorted(set(range(r0[-1] + 1)) - set(r0))
assert len(missing) <= groups - 1 and all(m > r0[-1] - groups for m in missing), (r0, groups)
cfg = {r["point"]: r["config"] for r in map(json.loads, open(f"{ref}/trials.jsonl"))}
assert all(r["config"] == cfg[r["point"]] for r in recs if r["point"] in cfg), "a point's config differs"
# brackets: consecutive ranges of points; a bracket's size only grows until it is closed
br = [json.loads(l) for l in open(f"{d}/brackets.jsonl")]
size, first = {}, {}
for b in br:
    k = b["bracket"]
    assert b["points"] >= size.get(k, (0, False))[0] and not size.get(k, (0, False))[1], br
    size[k] = (b["points"], b["closed"])
    first.setdefault(k, b["first"])
    assert first[k] == b["first"], br
nxt = 0
for k in sorted(size):
    assert first[k] == nxt, (k, first, size)
    nxt += size[k][0]
assert nxt > r0[-1] and all(size[k][1] for k in sorted(size)[:-1]), (size, r0[-1])
# every promoted trial's point ran in the rung below
have = {(r["point"], r["rung"]) for r in recs}
assert all((r["point"], r["rung"] - 1) in have for r in recs if r["rung"] > 0)
print(f"ok: {len(recs)} trials ({len(r0)} points, {len(size)} brackets of {[size[k][0] for k in sorted(size)]}) "
      f"in {s:.2f} s of {B:.0f}")
PY
}

t0=$(now)
"$TCDIST" tune --data "$T/a.h5" --threads 1 --budget "$B" --run-dir "$T/b" >"$T/out"
s=$(calc 'float(sys.argv[2]) - float(sys.argv[1])' "$t0" "$(now)")
grep -q "^tune: as many points as --budget" "$T/out" || fail "$(head -1 "$T/out")"
grep -q "^bracket 0: " "$T/out" || fail "no bracket line: $(head -5 "$T/out")"
check "$T/b" "$s"

# killed in the middle, then the same command: nothing trained twice, the brackets replayed
"$TCDIST" tune --data "$T/a.h5" --threads 1 --budget "$B" --quiet --run-dir "$T/k" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ "$(cat "$T/k/trials.jsonl" 2>/dev/null | wc -l)" -ge 30 ] && break; sleep 0.05; done
kill -9 $pid; wait $pid 2>/dev/null || true
n_killed=$(wc -l <"$T/k/trials.jsonl")
cp "$T/k/brackets.jsonl" "$T/brackets.before"
t0=$(now)
"$TCDIST" tune --data "$T/a.h5" --threads 1 --budget "$B" --quiet --run-dir "$T/k" >"$T/kout"
s=$(calc 'float(sys.argv[2]) - float(sys.argv[1])' "$t0" "$(now)")
grep -q "continuing from trials.jsonl" "$T/kout" || fail "the second run did not continue: $(head -1 "$T/kout")"
cmp -s "$T/brackets.before" <(head -n "$(wc -l <"$T/brackets.before")" "$T/k/brackets.jsonl") ||
  fail "brackets.jsonl was rewritten"
check "$T/k" "$s"
echo "ok: killed with $n_killed trials journaled, $(($(wc -l <"$T/k/trials.jsonl") - n_killed)) more after it"
set +e; "$TCDIST" tune --data "$T/a.h5" --threads 1 --trials 27 --run-dir "$T/k" >"$T/rout" 2>&1; rc=$?; set -e
[ $rc = 1 ] && grep -q "other settings" "$T/rout" ||
  fail "--trials 27 in a budget-driven DIR: exit $rc: $(cat "$T/rout")"

t0=$(now)
timeout 300 "$MPIRUN" -n 2 "$TCDIST" tune --data "$T/a.h5" --threads 1 --ranks-per-trial 1 --budget "$B" --quiet \
  --run-dir "$T/m" >"$T/mout"
s=$(calc 'float(sys.argv[2]) - float(sys.argv[1])' "$t0" "$(now)")
grep -q "^tune: .* 2 group(s) of 1 rank(s)" "$T/mout" || fail "$(head -1 "$T/mout")"
# mpirun's start and end as well; two ranks on 2 shared cores run fewer trials than one process
# each, so only more than 20
check "$T/m" "$s" 4 20 2
echo "ok: tune budget-driven"
