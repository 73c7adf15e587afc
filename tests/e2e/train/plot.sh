#!/usr/bin/env bash
# tcdist plot: an SVG with one curve per run in each panel (validation only where --valid was given),
# valid XML, and clear errors for a folder that is not a run dir.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$TCDIST" synth --docs 600 --seed 3 -o "$T/a.tsv" >/dev/null
"$TCDIST" synth --docs 200 --seed 3 --part 1 -o "$T/v.tsv" >/dev/null
"$TCDIST" prepare -o "$T/a.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --vocab "$T/a.h5" -o "$T/v.h5" "$T/v.tsv" >/dev/null
"$TCDIST" train --data "$T/a.h5" --valid "$T/v.h5" --run-dir "$T/r1" --epochs 3 --quiet --no-checkpoint
"$TCDIST" train --data "$T/a.h5" --run-dir "$T/r2" --epochs 2 --lr 0.02 --quiet --no-checkpoint
"$TCDIST" plot "$T/r1" >/dev/null
[ -s "$T/r1/plot.svg" ] || fail "no RUN_DIR/plot.svg"
"$TCDIST" plot "$T/r1" "$T/r2" -o "$T/both.svg" --title 'a <title> & more' >/dev/null
"$PYTHON" - "$T" <<'PY'
import sys, xml.etree.ElementTree as ET
t = sys.argv[1]
ns = {"s": "http://www.w3.org/2000/svg"}
one = ET.parse(f"{t}/r1/plot.svg").getroot()
assert len(one.findall(".//s:polyline", ns)) == 2, "one run: a loss curve and an accuracy curve"
both = ET.parse(f"{t}/both.svg").getroot()
lines = both.findall(".//s:polyline", ns)
assert [l.get("class") for l in lines] == ["run0", "run1", "run0"], [l.get("class") for l in lines]
loss_points = lines[0].get("points").split()
assert len(loss_points) >= 3, loss_points
texts = "".join(x.text or "" for x in both.iter("{http://www.w3.org/2000/svg}text"))
assert "a <title> & more" in texts and f"{t}/r2" in texts
print("ok: plot overlays runs; validation only where recorded; the SVG parses")
PY
set +e
"$TCDIST" plot "$T" 2>"$T/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "metrics.jsonl" "$T/err" || fail "a folder without metrics.jsonl was not reported"
