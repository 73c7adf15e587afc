#!/usr/bin/env bash
# --early-stop on a corpus made to overfit (few documents, a large constant lr, many epochs): the
# run stops at the first evaluation that makes PATIENCE in a row without improvement, summary.json
# names the best step, and model.h5 is that step's parameters (a plain run of best_step steps gives
# the same params_sha256). A run stopped by a signal, or killed, and resumed stops at the same step
# with the same model; -np 2 (--deterministic) matches -np 1; bad combinations are usage errors.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 800 --classes 3 --seed 71 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
base=(--data "$T/a.h5" --valid-split 0.3 --batch 32 --lr 0.05 --schedule constant --hidden 16 --quiet --threads 1
      --log-every 1 --deterministic)
es=("${base[@]}" --epochs 60 --early-stop 3 --valid-metric loss --valid-every 5)
"$TCDIST" train "${es[@]}" --run-dir "$T/es"

read -r best stop <<<"$("$PYTHON" - "$T/es" <<'PY'
import json, sys
d = sys.argv[1]
s = json.load(open(f"{d}/summary.json"))
valid = [json.loads(l) for l in open(f"{d}/metrics.jsonl") if '"valid"' in l]
best, best_loss, bad, stop = None, None, 0, None
for v in valid:
    if best is None or v["loss"] < best_loss:
        best, best_loss, bad = v["step"], v["loss"], 0
    else:
        bad += 1
        if bad == 3:
            stop = v["step"]
            break
assert stop is not None, f"the run did not overfit: {[(v['step'], v['loss']) for v in valid]}"
assert s["stopped_early"] is True and s["steps"] == stop, (s, stop)
assert s["best_step"] == best and abs(s["best_loss"] - best_loss) < 1e-6, (s, best, best_loss)
assert valid[-1]["step"] == stop, "evaluations after the stop"
cfg = json.load(open(f"{d}/config.json"))
assert (cfg["early_stop"], cfg["valid_metric"], cfg["valid_every"]) == (3, "loss", 5), cfg
print(best, stop)
PY
)"
[ -n "$stop" ] || fail "no stop step"
echo "best step $best, stopped at $stop (inside an epoch of 18 steps)"

# model.h5 is the best step's parameters: the same as a plain run of $best steps
"$TCDIST" train "${base[@]}" --epochs 60 --max-steps "$best" --run-dir "$T/plain"
[ "$(sha "$T/es")" = "$(sha "$T/plain")" ] || fail "model.h5 is not the parameters of step $best"

# a run whose patience runs out at its last evaluation trained every step: it did not stop early
# (summary.json says so, and a tune trial of it is "done"); model.h5 is still the best step's
"$TCDIST" train "${es[@]}" --max-steps "$stop" --run-dir "$T/last"
"$PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/summary.json")); assert s["stopped_early"] is False and s["steps"]==int(sys.argv[2]) and s["best_step"]==int(sys.argv[3]), s' \
  "$T/last" "$stop" "$best" || fail "patience out at the last evaluation: reported as an early stop"
[ "$(sha "$T/last")" = "$(sha "$T/es")" ] || fail "patience out at the last evaluation: model.h5 is not step $best's"

# a stop signal, and a SIGKILL after a checkpoint, then the same command: the same stop and model
S=$((stop - 5))
set +e; TCDIST_FAULT=signal:0:$S "$TCDIST" train "${es[@]}" --run-dir "$T/sig"; rc=$?; set -e
[ $rc -eq 3 ] || fail "signal at step $S: exit $rc, not 3"
"$TCDIST" train "${es[@]}" --run-dir "$T/sig"
set +e; TCDIST_FAULT=kill:0:$((stop - 2)) "$TCDIST" train "${es[@]}" --checkpoint-every 4 --run-dir "$T/kill" 2>/dev/null
rc=$?; set -e
[ $rc -ne 0 ] || fail "the killed run exited 0"
"$TCDIST" train "${es[@]}" --checkpoint-every 4 --run-dir "$T/kill"
for r in sig kill; do
  [ "$(sha "$T/$r")" = "$(sha "$T/es")" ] || fail "$r: the resumed run's model differs"
  "$PYTHON" -c 'import json,sys; a,b=(json.load(open(p+"/summary.json")) for p in sys.argv[1:]); assert (a["steps"],a["best_step"])==(b["steps"],b["best_step"]), (a,b)' "$T/$r" "$T/es" \
    || fail "$r: the resumed run stopped elsewhere"
done

mpi 2 "${es[@]}" --run-dir "$T/np2"
[ "$(sha "$T/np2")" = "$(sha "$T/es")" ] || fail "-np 2 stops with another model"

# accuracy (the default metric) and macro_f1 run and record their best
"$TCDIST" train "${base[@]}" --epochs 8 --early-stop 2 --valid-metric macro_f1 --run-dir "$T/f1"
"$PYTHON" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/summary.json")); assert 0 < s["best_macro_f1"] <= 1 and s["best_step"] > 0, s' "$T/f1"

err() { local want=$1; shift; set +e; "$TCDIST" train "$@" >"$T/out" 2>&1; local rc=$?; set -e
        [ $rc -eq 2 ] || fail "$*: exit $rc, not 2"; grep -q -- "$want" "$T/out" || fail "$*: no '$want' in: $(cat "$T/out")"; }
err "needs a validation set" --data "$T/a.h5" --early-stop 2 --run-dir "$T/bad"
err "needs a validation set" --data "$T/a.h5" --valid-every 5 --run-dir "$T/bad"
err "only --early-stop uses it" --data "$T/a.h5" --valid-split 0.2 --valid-metric loss --run-dir "$T/bad"
err "valid-metric" --data "$T/a.h5" --valid-split 0.2 --early-stop 2 --valid-metric f2 --run-dir "$T/bad"
err "early-stop" --data "$T/a.h5" --valid-split 0.2 --early-stop -1 --run-dir "$T/bad"
echo "ok: early_stop"
