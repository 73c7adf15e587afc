#!/usr/bin/env bash
# --valid-split: the held-out documents (RUN_DIR/valid_split.txt) are a function of the document
# index and --seed only, the same for -np 1 and 2 (--deterministic: byte-identical parameters);
# they are never trained on (changing their text and labels leaves the parameters unchanged) and
# they are the validation set (its n_docs); bad combinations are clear usage errors.
source "$(dirname "$0")/../lib/mpi.sh"
"$TCDIST" synth --docs 2000 --classes 3 --seed 61 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
common=(--data "$T/a.h5" --valid-split 0.2 --epochs 2 --batch 64 --hidden 8 --quiet --threads 1 --no-checkpoint
        --log-every 1 --deterministic)
"$TCDIST" train "${common[@]}" --run-dir "$T/np1"
mpi 2 "${common[@]}" --run-dir "$T/np2"
cmp -s "$T/np1/valid_split.txt" "$T/np2/valid_split.txt" || fail "the held-out documents differ for -np 1 and 2"
[ "$(sha "$T/np1")" = "$(sha "$T/np2")" ] || fail "--valid-split: -np 1 and 2 give different parameters"

# the held-out lines of the text get another label and other words: the same parameters
"$PYTHON" - "$T" <<'PY'
import sys
t = sys.argv[1]
held = {int(l) for l in open(f"{t}/np1/valid_split.txt")}
lines = open(f"{t}/a.tsv").read().splitlines(keepends=True)
assert 300 <= len(held) <= 500 and len(lines) == 2001, (len(held), len(lines))  # about 0.2 of 2000
labels = sorted({l.rstrip("\n").split("\t")[1] for l in lines[1:]})
with open(f"{t}/b.tsv", "w") as f:
    for i, l in enumerate(lines):
        if i - 1 in held:  # line 0 is the header
            lab = l.rstrip("\n").split("\t")[1]
            l = "zzz qqq xxx\t" + labels[(labels.index(lab) + 1) % len(labels)] + "\n"
        f.write(l)
PY
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/b.h5" "$T/b.tsv" >/dev/null
"$TCDIST" train "${common[@]/$T\/a.h5/$T/b.h5}" --run-dir "$T/changed"
[ "$(sha "$T/changed")" = "$(sha "$T/np1")" ] || fail "held-out documents were trained on"
cmp -s "$T/np1/valid_split.txt" "$T/changed/valid_split.txt" || fail "the split depends on the text"

"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
held = [int(l) for l in open(f"{t}/np1/valid_split.txt")]
assert held == sorted(set(held)) and all(0 <= d < 2000 for d in held), "valid_split.txt: not sorted indices"
for r in ("np1", "np2"):
    recs = [json.loads(l) for l in open(f"{t}/{r}/metrics.jsonl")]
    valid = [x for x in recs if x["type"] == "valid"]
    steps = [x for x in recs if x["type"] == "train"]
    assert len(valid) == 2 and all(v["n_docs"] == len(held) for v in valid), (r, valid)
    spe = -(-(2000 - len(held)) // 64)
    assert len(steps) == 2 * spe, (r, len(steps), spe)
    assert json.load(open(f"{t}/{r}/config.json"))["valid_split"] == 0.2
    s = json.load(open(f"{t}/{r}/summary.json"))
    assert s["valid_accuracy"] is not None and s["valid_accuracy"] > 0.5, s
print("ok: the split is the same for -np 1 and 2, never trained on, and validated on")
PY
"$TCDIST" train --data "$T/a.h5" --run-dir "$T/seed2" --valid-split 0.2 --seed 2 --epochs 1 --quiet --no-checkpoint
cmp -s "$T/np1/valid_split.txt" "$T/seed2/valid_split.txt" && fail "--seed does not change the split"

# bad combinations: exit 2 and a message naming the flags
err() { local want=$1; shift; set +e; "$TCDIST" train "$@" >"$T/out" 2>&1; local rc=$?; set -e
        [ $rc -eq 2 ] || fail "$*: exit $rc, not 2"; grep -q -- "$want" "$T/out" || fail "$*: no '$want' in: $(cat "$T/out")"; }
err "give one" --data "$T/a.h5" --valid "$T/a.h5" --valid-split 0.1 --run-dir "$T/bad"
err "between 0 and 1" --data "$T/a.h5" --valid-split 1 --run-dir "$T/bad"
err "valid-split" --data "$T/a.h5" --valid-split -0.5 --run-dir "$T/bad"
echo "ok: valid_split"
