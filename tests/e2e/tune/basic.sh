#!/usr/bin/env bash
# tcdist tune on a small corpus: DIR/trials.jsonl (one record per finished trial, every field),
# DIR/trials/<id>/ per trial, the table best first, and DIR/best/ a run dir that eval, predict and
# plot take as they are; --valid (a separate corpus) instead of --valid-split.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 600 --classes 3 --seed 5 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 200 --classes 3 --seed 5 --part 1 -o "$T/v.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
"$TCDIST" tune --data "$T/a.h5" --run-dir "$T/t" --trials 6 --max-epochs 3 --threads 1 >"$T/out"
grep -q '^#  *trial  *status  *accuracy' "$T/out" || fail "no table: $(cat "$T/out")"
grep -q "^best: .* -> $T/t/best" "$T/out" || fail "no best line: $(cat "$T/out")"
"$PYTHON" - "$T/t" "$T/out" <<'PY'
import json, os, sys
d, out = sys.argv[1], open(sys.argv[2]).read()
recs = [json.loads(l) for l in open(f"{d}/trials.jsonl")]
# 6 points for 1 epoch, the best 2 for 3 epochs
assert [r["rung"] for r in recs].count(0) == 6 and [r["rung"] for r in recs].count(1) == 2, recs
for r in recs:
    for k in ("id", "config", "metric", "steps", "epochs", "seconds", "status"):
        assert k in r, (k, r)
    assert r["status"] in ("done", "early_stopped") and 0 < r["metric"] <= 1, r
    assert r["config"]["model"] == "bow" and 0.001 <= r["config"]["lr"] <= 0.1, r
    s = json.load(open(f"{d}/trials/{r['id']}/summary.json"))
    assert s["steps"] == r["steps"], (s, r)
assert sorted(os.listdir(f"{d}/trials")) == sorted(r["id"] for r in recs)
# the table: every trial, best first
rows = [l.split() for l in out.splitlines() if l[:1].isdigit()]
assert len(rows) == len(recs), rows
metrics = [float(r[3]) for r in rows]
assert metrics == sorted(metrics, reverse=True), metrics
best = max(recs, key=lambda r: (r["metric"], r["epochs"]))
assert rows[0][1] == best["id"], (rows[0], best)
assert json.load(open(f"{d}/best/summary.json"))["params_sha256"] == json.load(open(f"{d}/trials/{best['id']}/summary.json"))["params_sha256"]
print("ok:", len(recs), "trials, best", best["id"])
PY
for f in model.h5 config.json summary.json metrics.jsonl; do [ -s "$T/t/best/$f" ] || fail "best/$f missing"; done
[ ! -e "$T/t/best/checkpoints" ] || fail "best/ holds checkpoints"
"$TCDIST" eval --model "$T/t/best" --data "$T/v.h5" >"$T/eval"
grep -q accuracy "$T/eval" || fail "eval of best/: $(cat "$T/eval")"
sed -n 2,4p "$T/v.tsv" | cut -f1 >"$T/texts"
"$TCDIST" predict --model "$T/t/best" "$T/texts" >"$T/pred"
[ "$(wc -l <"$T/pred")" = 3 ] || fail "predict with best/: $(cat "$T/pred")"
"$TCDIST" plot "$T"/t/trials/* -o "$T/plot.svg" >/dev/null
[ "$(grep -c '<polyline' "$T/plot.svg")" -ge 8 ] || fail "plot of the trials"

# --valid: a separate validation corpus, the metric loss (lowest first)
"$TCDIST" tune --data "$T/a.h5" --valid "$T/v.h5" --metric loss --run-dir "$T/v" --trials 3 --max-epochs 1 --threads 1 --quiet >"$T/out2"
"$PYTHON" - "$T/out2" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1].isdigit()]
m = [float(r[3]) for r in rows]
assert len(rows) == 3 and m == sorted(m), rows
PY
grep -q '"valid": ".*v.h5"' "$T/v/best/config.json" || fail "best/config.json does not name --valid"

err() { local want=$1; shift; set +e; "$TCDIST" tune "$@" >"$T/e" 2>&1; local rc=$?; set -e
        [ $rc -eq 2 ] || fail "$*: exit $rc, not 2"; grep -q -- "$want" "$T/e" || fail "$*: no '$want' in: $(cat "$T/e")"; }
err "are required" --data "$T/a.h5"
err "give one" --data "$T/a.h5" --valid "$T/v.h5" --valid-split 0.2 --run-dir "$T/x"
err "min-epochs" --data "$T/a.h5" --run-dir "$T/x" --min-epochs 4 --max-epochs 2
err "metric" --data "$T/a.h5" --run-dir "$T/x" --metric f2
# another command in a tuned dir is refused, not mixed in
set +e; "$TCDIST" tune --data "$T/a.h5" --run-dir "$T/t" --trials 7 >"$T/e" 2>&1; rc=$?; set -e
[ $rc -eq 1 ] && grep -q "other settings" "$T/e" || fail "a tuned dir with other settings: exit $rc: $(cat "$T/e")"
echo "ok: tune basic"
