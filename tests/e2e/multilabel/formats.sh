#!/usr/bin/env bash
# Multi-label input: several __label__ tokens (fastText), a JSON list (JSONL) and a split label field
# (TSV/CSV --label-sep) make the same corpus, byte for byte in its content hash; a single-label
# corpus has no /label_sets; bad input is an error naming FILE:LINE.
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
attr() { # FILE NAME: a root attribute, or /DATASET as a list
  "$PYTHON" - "$@" <<'PY'
import h5py, sys
f = h5py.File(sys.argv[1], "r")
n = sys.argv[2]
if n.startswith("/"):
    print([int(x) for x in f[n][()]])
else:
    v = f.attrs.get(n)
    print(v.decode() if isinstance(v, bytes) else v)
PY
}

# the same three documents in four formats (labels repeated within a line count once)
printf '__label__sport __label__news Match report today\n__label__news Rates are up\n__label__tech __label__sport __label__tech New racket, same player\n' >"$T/a.ft"
printf '{"text": "Match report today", "label": ["sport", "news"]}\n{"text": "Rates are up", "label": "news"}\n{"text": "New racket, same player", "label": ["tech", "sport", "tech"]}\n' >"$T/a.jsonl"
printf 'label\ttext\nsport|news\tMatch report today\nnews\tRates are up\ntech | sport|tech\tNew racket, same player\n' >"$T/a.tsv"
printf 'text,label\n"Match report today","sport;news"\nRates are up,news\n"New racket, same player",tech;sport;tech\n' >"$T/a.csv"
"$TCDIST" prepare -o "$T/ft.h5" "$T/a.ft" >"$T/out.txt"
grep -q "multi-label 5 labels in all" "$T/out.txt" || { cat "$T/out.txt"; fail "prepare does not report the label sets"; }
"$TCDIST" prepare -o "$T/js.h5" "$T/a.jsonl" >/dev/null
"$TCDIST" prepare --label-sep '|' -o "$T/tsv.h5" "$T/a.tsv" >/dev/null
"$TCDIST" prepare --label-sep ';' -o "$T/csv.h5" "$T/a.csv" >/dev/null
want=$(attr "$T/ft.h5" content_sha256)
for f in js tsv csv; do
  [ "$(attr "$T/$f.h5" content_sha256)" = "$want" ] || fail "$f.h5 differs from the fastText corpus"
done
[ "$(attr "$T/ft.h5" multi_label)" = 1 ] || fail "multi_label attribute missing"
# labels in byte order: news 0, sport 1, tech 2; each set sorted
[ "$(attr "$T/ft.h5" /label_sets/offsets)" = "[0, 2, 3, 5]" ] || fail "label_sets/offsets: $(attr "$T/ft.h5" /label_sets/offsets)"
[ "$(attr "$T/ft.h5" /label_sets/ids)" = "[0, 1, 0, 1, 2]" ] || fail "label_sets/ids: $(attr "$T/ft.h5" /label_sets/ids)"
"$TCDIST" inspect --verify "$T/ft.h5" >/dev/null || fail "inspect --verify of a multi-label corpus"
# a dev set with --vocab keeps its label sets
"$TCDIST" prepare --vocab "$T/ft.h5" -o "$T/dev.h5" "$T/a.jsonl" >/dev/null
[ "$(attr "$T/dev.h5" content_sha256)" = "$want" ] || fail "--vocab corpus differs"

# damaged label sets (rewritten through h5py, so the chunk checksums still hold) are refused, naming
# the file and the document
cp "$T/ft.h5" "$T/dmg.h5"
"$PYTHON" -c 'import h5py,sys; f=h5py.File(sys.argv[1], "r+"); d=f["label_sets/ids"]; d[3]=7' "$T/dmg.h5"
if "$TCDIST" train --data "$T/dmg.h5" --run-dir "$T/dmgrun" --quiet 2>"$T/err.txt"; then fail "trained on damaged label sets"; fi
grep -q "dmg.h5: damaged corpus: dataset 'label_sets': document 2 has an empty, unsorted or out-of-range label set" \
  "$T/err.txt" || { cat "$T/err.txt"; fail "damaged label sets message"; }
if "$TCDIST" inspect --verify "$T/dmg.h5" >/dev/null 2>"$T/err.txt"; then fail "inspect --verify passed damaged label sets"; fi
grep -q "label_sets" "$T/err.txt" || { cat "$T/err.txt"; fail "inspect --verify message"; }

# single-label input: no label sets, and the bytes of the corpus hash as before (one label per line)
printf '__label__a x y\n__label__b z\n' >"$T/s.ft"
"$TCDIST" prepare -o "$T/s.h5" "$T/s.ft" >/dev/null
[ "$(attr "$T/s.h5" multi_label)" = None ] || fail "a single-label corpus got multi_label"
"$PYTHON" -c 'import h5py,sys; assert "label_sets" not in h5py.File(sys.argv[1])' "$T/s.h5" || fail "a single-label corpus got /label_sets"

# bad input: FILE:LINE and the reason, exit 1
bad() { # WANT FILE ARGS...
  local want=$1 file=$2; shift 2
  if "$TCDIST" prepare -o "$T/bad.h5" "$@" "$file" >/dev/null 2>"$T/err.txt"; then fail "accepted: $file"; fi
  grep -qF -- "$want" "$T/err.txt" || { cat "$T/err.txt"; fail "expected '$want'"; }
  [ ! -e "$T/bad.h5" ] || fail "a failed prepare left $T/bad.h5"
}
printf '{"text": "ok", "label": ["a"]}\n{"text": "no labels", "label": []}\n' >"$T/empty.jsonl"
bad "empty.jsonl:2: field 'label' is an empty list" "$T/empty.jsonl"
printf '{"text": "ok", "label": ["a", null]}\n' >"$T/null.jsonl"
bad "null.jsonl:1: field 'label': item 2 of the list is null" "$T/null.jsonl"
printf 'label\ttext\na|b\tfine\na||b\tnot fine\n' >"$T/gap.tsv"
bad "gap.tsv:3: empty label in the list (item 2)" "$T/gap.tsv" --label-sep '|'
printf 'label\ttext\n |\tnothing\n' >"$T/none.tsv"
bad "none.tsv:2: empty label in the list (item 1)" "$T/none.tsv" --label-sep '|'
bad "--label-sep applies to TSV and CSV input only" "$T/a.ft" --label-sep '|'
bad "--label-sep applies to TSV and CSV input only" "$T/a.jsonl" --label-sep ','
bad "--label-sep '||': give one character" "$T/a.tsv" --label-sep '||'
printf '__label__a __label__ text\n' >"$T/bare.ft"
bad "bare.ft:1: empty label" "$T/bare.ft"
# a label outside a fixed list, inside a set
printf '__label__news __label__weather Rain today\n' >"$T/new.ft"
if "$TCDIST" prepare --vocab "$T/ft.h5" -o "$T/bad.h5" "$T/new.ft" >/dev/null 2>"$T/err.txt"; then fail "unknown label accepted"; fi
grep -q "new.ft:1: label 'weather' is not one of the training labels" "$T/err.txt" || { cat "$T/err.txt"; fail "unknown label message"; }
echo "ok: fastText, JSONL, TSV and CSV label sets give one corpus; bad input names FILE:LINE"
