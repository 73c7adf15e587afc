#!/usr/bin/env bash
# --space FILE: a space over the model kinds of the registry and their own parameters (a parameter
# applies to the kinds that have it); every bad file is a usage error naming the file, the line and
# the field, before anything is trained.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 400 --classes 2 --seed 4 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
cat >"$T/space" <<'SP'
# model kinds and their flags
model choice bow cnn   # the kinds come from the registry
lr log 0.003 0.03
dim choice 8 16
filters int 4 8        # cnn only
max_len choice 40
widths choice 2,3 3
SP
"$TCDIST" tune --data "$T/a.h5" --space "$T/space" --run-dir "$T/t" --trials 4 --max-epochs 1 --threads 1 --quiet >/dev/null
"$PYTHON" - "$T/t" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1] + "/trials.jsonl")]
kinds = {r["config"]["model"] for r in recs}
assert kinds == {"bow", "cnn"}, recs
for r in recs:
    c = r["config"]
    if c["model"] == "bow":
        assert "filters" not in c and "widths" not in c, c
    else:
        assert 4 <= c["filters"] <= 8 and c["max_len"] == 40 and c["widths"] in ("2,3", "3"), c
        cfg = json.load(open(f"{sys.argv[1]}/trials/{r['id']}/config.json"))
        assert cfg["model"] == "cnn" and cfg["filters"] == c["filters"], cfg
print("ok:", sorted((r["id"], r["config"]["model"]) for r in recs))
PY

bad() { # WANT LINE-OF-FILE...
  local want=$1; shift; printf '%s\n' "$@" >"$T/bad"
  set +e; "$TCDIST" tune --data "$T/a.h5" --space "$T/bad" --run-dir "$T/x" >"$T/e" 2>&1; local rc=$?; set -e
  [ $rc -eq 2 ] || fail "$*: exit $rc, not 2"
  grep -qF -- "$want" "$T/e" || fail "$*: no '$want' in: $(cat "$T/e")"
  [ ! -e "$T/x" ] || fail "$*: the run dir was made"
}
bad "$T/bad:2: field 4 ('x'): 'x' is not a number" "lr log 0.001 0.1" "batch choice 32 x"
bad "$T/bad:3: field 1: unknown name 'rate' (known: lr, batch, weight_decay, emb_lr, model, dim" "" "# comment" "rate log 1 2"
bad "$T/bad:1: field 4 ('rnn'): unknown model kind 'rnn' (kinds: bow|cnn" "model choice bow rnn"
bad "$T/bad:1: field 2: unknown type 'normal'" "lr normal 0.1 0.2"
bad "$T/bad:1: field 5: int takes two numbers" "dim int 8 16 32"
bad "$T/bad:1: field 4: int takes two numbers" "dim int 8"
bad "$T/bad:1: field 3 ('0'): log needs LO > 0" "weight_decay log 0 0.1"
bad "$T/bad:1: field 4 ('0.001'): HI must be above LO" "lr log 0.1 0.001"
bad "$T/bad:2: field 1: 'lr' given twice" "lr log 0.001 0.1" "lr uniform 0.01 0.1"
bad "$T/bad:1: field 2: 'model' takes choice only" "model int 1 2"
bad "$T/bad:1: field 3 ('2'): " "dropout uniform 2 3"
bad "$T/bad:1: field 3: choice needs at least one value" "batch choice"
# a model parameter's values are checked against the kinds the file can pick (bow without a model line)
bad "$T/bad:2: field 3 ('3000'): option '--max-len': 3000 is out of range [1, 2048] (model transformer)" \
    "model choice cnn transformer" "max_len choice 3000"
bad "$T/bad:1: field 4 ('100000000'): option '--dim': 100000000 is out of range [1, 65536] (model bow)" \
    "dim int 1 100000000"
bad "$T/bad:2: field 3 ('0'): option '--max-len': 0 is out of range" "lr log 0.01 0.1" "max_len choice 0" "model choice cnn"
bad "$T/bad: no dimension" "# nothing"
# ... and not against a kind the file does not pick: 3000 tokens is a cnn's max_len, a transformer's is
# at most 2048; 5000 is a bow's dim (a transformer's is at most 4096)
good() { printf '%s\n' "$@" >"$T/good"; "$TCDIST" tune --data "$T/a.h5" --space "$T/good" --run-dir "$T/g" --trials 1 \
    --max-epochs 1 --threads 1 --quiet >/dev/null || fail "$*: refused"; rm -rf "$T/g"; }
good "model choice cnn" "max_len choice 3000" "filters choice 4" "dim choice 8"
good "dim choice 5000" "hidden choice 0"
set +e; "$TCDIST" tune --data "$T/a.h5" --space "$T/none" --run-dir "$T/x" >"$T/e" 2>&1; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "$T/none: cannot read" "$T/e" || fail "a missing --space file: exit $rc: $(cat "$T/e")"
echo "ok: tune space"
