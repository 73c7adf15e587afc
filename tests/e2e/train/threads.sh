#!/usr/bin/env bash
# 1 thread against 2 and 4 threads: the same per-step losses and the same final parameters.
# (tcdist's gradients are summed in an order that does not depend on the thread count, so the
# parameters are in fact bit-identical; the test asserts that.)
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
"$TCDIST" synth --docs 3000 --classes 3 --seed 7 -o "$T/a.tsv" >/dev/null
"$TCDIST" prepare --format tsv --ngrams 2 --buckets 5000 -o "$T/a.h5" "$T/a.tsv" >/dev/null
for t in 1 2 4; do
  "$TCDIST" train --data "$T/a.h5" --run-dir "$T/r$t" --threads $t --epochs 2 --batch 100 --hidden 8 \
    --quiet --log-every 1
done
"$PYTHON" - "$T" <<'PY'
import json, sys
t = sys.argv[1]
def losses(r): return [json.loads(l)["loss"] for l in open(f"{t}/{r}/metrics.jsonl") if '"train"' in l]
def sha(r): return json.load(open(f"{t}/{r}/summary.json"))["params_sha256"]
base = losses("r1")
assert len(base) == 60, len(base)
for r in ("r2", "r4"):
    other = losses(r)
    worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(base, other))
    assert worst <= 1e-6, f"{r}: losses differ from 1 thread by {worst}"
    assert sha(r) == sha("r1"), f"{r}: parameters differ from the 1-thread run"
print("ok: 1, 2 and 4 threads give the same losses and bit-identical parameters")
PY
