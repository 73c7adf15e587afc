# Bad input: per-record errors name file:line and stop the run (exit 1) without leaving or
# touching the output; --skip-bad counts them; bad files, columns and flags are clear errors.
source "$(dirname "$0")/lib.sh"

no_output() { if [ -e "$1" ]; then fail "$2: $1 exists after a failed run"; else ok "$2: no output"; fi
              if ls -a | grep -q '\.tmp\.'; then fail "$2: a temporary file was left: $(ls -a)"; fi; }

# ---- a TSV line without its tab: names line 4, exit 1, no output file
printf 'text\tlabel\ngood one\t1\nbad one\t0\nno tab here\nfine\t1\n' > bad.tsv
run_fail "tsv missing tab" 1 'bad\.tsv:4: missing field.*1 field' -o out.h5 bad.tsv
no_output out.h5 "tsv missing tab"
# an existing OUT stays byte-identical
printf 'text\tlabel\ngood one\t1\nbad one\t0\n' > good.tsv
run_ok "good run" -o keep.h5 good.tsv
cp keep.h5 keep.orig
run_fail "failed run over an existing output" 1 'bad\.tsv:4:' -o keep.h5 bad.tsv
if cmp -s keep.h5 keep.orig; then ok "existing output untouched"; else fail "existing output changed"; fi
# --skip-bad: counted, warned, recorded
run_ok "skip-bad" --skip-bad -o skip.h5 bad.tsv
expect_eq "skip-bad docs" "$(q skip.h5 'f.attrs["n_docs"]')" 3
expect_eq "skip-bad n_skipped" "$(q skip.h5 'f.attrs["n_skipped"]')" 1
grep -q 'bad\.tsv:4: missing field.*(skipped)' err.txt && ok "skip-bad warning" || fail "skip-bad warning: $(cat err.txt)"
grep -Eq 'skipped +1 bad record' out.txt && ok "skip-bad summary" || fail "skip-bad summary: $(cat out.txt)"
# many bad records: only the first 10 are listed, the total at the end
{ printf 'text\tlabel\n'; for i in $(seq 1 25); do printf 'x\t1\nnotab\ny\t2\n'; done; } > many.tsv
run_ok "skip-bad many" --skip-bad -o many.h5 many.tsv
expect_eq "listed warnings" "$(grep -c '(skipped)' err.txt)" 10
grep -q '25 bad records were skipped' err.txt && ok "skip-bad total" || fail "skip-bad total: $(cat err.txt)"
expect_eq "many n_skipped" "$(q many.h5 'f.attrs["n_skipped"]')" 25

# ---- empty text, empty label, text with no tokens
printf 'text\tlabel\nok\ta\n\tb\n' > e1.tsv
run_fail "empty text" 1 'e1\.tsv:3: empty text' -o x.h5 e1.tsv
printf 'text\tlabel\nok\ta\n   \tb\n' > e2.tsv
run_fail "blank text has no tokens" 1 'e2\.tsv:3: empty text' -o x.h5 e2.tsv
printf 'text\tlabel\nok\ta\nfine\t \n' > e3.tsv
run_fail "empty label" 1 'e3\.tsv:3: empty label' -o x.h5 e3.tsv
no_output x.h5 "empty label"

# ---- CSV broken quotes (stray quote, text after closing quote, EOF inside quotes)
printf 'text,label\nfine,a\nbro"ken,b\n' > q1.csv
run_fail "csv stray quote" 1 'q1\.csv:3: broken quote' -o x.h5 q1.csv
printf 'text,label\n"fine",a\n"closed"then,b\n' > q2.csv
run_fail "csv text after closing quote" 1 'q2\.csv:3: broken quote' -o x.h5 q2.csv
printf 'text,label\n"fine",a\n"never closed,b\nmore,c\n' > q3.csv
run_fail "csv EOF inside quotes" 1 'q3\.csv:3: broken quote' -o x.h5 q3.csv
no_output x.h5 "broken quote"

# ---- JSONL
printf '{"text": "ok", "label": "a"}\n{"text": "x" "label": "b"}\n' > j1.jsonl
run_fail "bad json" 1 "j1\\.jsonl:2: invalid JSON at column 14: expected ',' or '}'" -o x.h5 j1.jsonl
printf '{"text": "ok", "label": "a"}\n{"body": "x", "label": "b"}\n' > j2.jsonl
run_fail "json missing field" 1 "j2\\.jsonl:2: field 'text' missing" -o x.h5 j2.jsonl
printf '{"text": "ok", "label": "a"}\n{"text": 5, "label": "b"}\n' > j3.jsonl
run_fail "json text not a string" 1 "j3\\.jsonl:2: field 'text' is not a string" -o x.h5 j3.jsonl
printf '{"text": "ok", "label": "a"}\n{"text": "x", "label": null}\n' > j4.jsonl
run_fail "json null label" 1 "j4\\.jsonl:2: field 'label' is null" -o x.h5 j4.jsonl
printf '{"text": "ok", "label": "a"}\n[1, 2]\n' > j5.jsonl
run_fail "json not an object" 1 "j5\\.jsonl:2: invalid JSON at column 1" -o x.h5 j5.jsonl
printf '{"text": "ok \\ud800 x", "label": "a"}\n' > j6.jsonl
run_fail "json lone surrogate" 1 "j6\\.jsonl:1: invalid UTF-8: lone surrogate" -o x.h5 j6.jsonl

# ---- invalid UTF-8 in text: error names file:line; replace policy accepts it
printf 'text\tlabel\nok\ta\nbad \xc3\x28 byte\tb\n' > u.tsv
run_fail "invalid utf-8" 1 'u\.tsv:3: invalid UTF-8' -o x.h5 u.tsv
run_ok "invalid utf-8 replaced" --invalid-utf8 replace -o u.h5 u.tsv

# ---- fastText label problems
printf '__label__a fine\nno label here\n' > f1.ft
run_fail "fasttext missing label" 1 'f1\.ft:2: missing label' -o x.h5 f1.ft
printf '__label__a fine\n__label__a __label__ two\n' > f2.ft
run_fail "fasttext bare label among several" 1 'f2\.ft:2: empty label in the list \(item 2\)' -o x.h5 f2.ft

# ---- unknown label with --vocab (and with --labels)
printf 'text\tlabel\ngood\tpos\nbad\tneg\n' > tr.tsv
run_ok "train for --vocab" -o tr.h5 tr.tsv
printf 'text\tlabel\nfine\tpos\nhmm\tneutral\n' > dv.tsv
run_fail "unknown label with --vocab" 1 "dv\\.tsv:3: label 'neutral' is not one of the training labels \\(neg, pos\\)" \
  --vocab tr.h5 -o x.h5 dv.tsv
run_ok "unknown label skipped" --skip-bad --vocab tr.h5 -o dv.h5 dv.tsv
expect_eq "skipped unknown label" "$(q dv.h5 '(f.attrs["n_docs"], f.attrs["n_skipped"])')" "1 1"
run_fail "unknown label with --labels" 1 "tr\\.tsv:3: label 'neg' is not one of the --labels \\(pos, other\\)" \
  --labels pos,other -o x.h5 tr.tsv
run_fail "conflicting tokenizer flag with --vocab" 1 "--ngrams 2.*conflicts with --vocab" \
  --vocab tr.h5 --ngrams 2 -o x.h5 dv.tsv
run_fail "--vocab not a corpus" 1 "--vocab: .*not an HDF5 file" --vocab tr.tsv -o x.h5 dv.tsv

# ---- header and column problems
run_fail "header lacks the column" 1 "sentence.*its columns: text, label" --text-field sentence -o x.h5 tr.tsv
run_fail "name with --no-header" 1 "no header" --no-header --text-field text -o x.h5 tr.tsv
run_fail "one class only" 1 "only 1 class" -o x.h5 e3.tsv --skip-bad

# ---- files and flags
run_fail "missing input" 1 "nope\\.tsv: cannot read input" -o x.h5 nope.tsv
run_fail "output folder missing" 1 "cannot create the output" -o no/such/dir/x.h5 tr.tsv
run_fail "bad flag value" 2 "--min-count" --min-count abc -o x.h5 tr.tsv
run_fail "unknown flag" 2 "unknown option '--bogus'" --bogus -o x.h5 tr.tsv
run_fail "bad format" 2 "--format" --format xml -o x.h5 tr.tsv
run_fail "no output" 2 "-o OUT" tr.tsv
no_output x.h5 "flags"

# ---- SIGTERM while reading (stdin held open): exit 143, no output, no temporary file
mkfifo fifo
"$TCDIST" prepare --format tsv -o sig.h5 - < fifo > out.txt 2> err.txt &
pid=$!
exec 3> fifo
printf 'text\tlabel\nsome text\t1\n' >&3
sleep 1
kill -TERM "$pid"
wait "$pid"
rc=$?
exec 3>&-
expect_eq "SIGTERM exit status" "$rc" 143
no_output sig.h5 "SIGTERM"
finish
