# Each input format through the binary: TSV/CSV header and no-header, names and indices, CSV
# quoting edge cases, fastText, JSONL escapes, Unicode passthrough, stdin, format detection.
source "$(dirname "$0")/lib.sh"

# ---- TSV with a header, fields by name; literal quotes are plain text; CRLF stripped
printf 'id\tsentence\tlabel\r\n1\tHe said "hi" there\tpos\r\n2\tbad movie\tneg\r\n' > a.tsv
run_ok "tsv header by name" --text-field sentence -o a.h5 a.tsv
expect_eq "tsv docs" "$(q a.h5 'f.attrs["n_docs"]')" 2
expect_eq "tsv words doc0" "$(q a.h5 'words(0)')" 'he said " hi " there'
expect_eq "tsv label names (byte order)" "$(q a.h5 'L()')" "neg pos"
expect_eq "tsv labels" "$(q a.h5 'list(f["labels"][:])')" "1 0"
expect_eq "tsv input_format" "$(q a.h5 'f.attrs["input_format"]')" tsv
# same by index
run_ok "tsv header by index" --text-field 1 --label-field 2 -o a2.h5 a.tsv
expect_eq "index = name" "$(q a2.h5 'f.attrs["content_sha256"]')" "$(q a.h5 'f.attrs["content_sha256"]')"
# the default column names text/label
printf 'label\ttext\n1\tgood\n0\tbad\n' > d.tsv
run_ok "tsv default columns" -o d.h5 d.tsv
expect_eq "tsv default words" "$(q d.h5 'words(1)')" "bad"
# no header: label 0, text 1 by default
printf '1\tgood fun\n0\tbad\n' > n.tsv
run_ok "tsv no header" --no-header -o n.h5 n.tsv
expect_eq "no-header docs" "$(q n.h5 'f.attrs["n_docs"]')" 2
expect_eq "no-header words" "$(q n.h5 'words(0)')" "good fun"
expect_eq "numeric labels in numeric order" "$(q n.h5 'L()')" "0 1"
# several text fields joined with one space
printf 'a\tb\tl\nx y\tz\t1\nq\tr\t2\n' > m.tsv
run_ok "tsv two text fields" --text-field a,b --label-field l -o m.h5 m.tsv
expect_eq "joined fields" "$(q m.h5 'words(0)')" "x y z"

# ---- CSV: quoted commas, "" escapes, newline inside quotes, CRLF, AG News layout
printf '"3","Wall St. Bears, Claw Back","Reuters - Short-sellers, ""ultra-cynics"", are back."\r\n"1","Title ""two""","multi\r\nline\r\ntext"\r\n"2",plain,field\r\n' > ag.csv
run_ok "csv ag news style" --format csv --no-header --label-field 0 --text-field 1,2 -o ag.h5 ag.csv
expect_eq "csv docs" "$(q ag.h5 'f.attrs["n_docs"]')" 3
expect_eq "csv quoted comma + escaped quote" "$(q ag.h5 'words(0)')" \
  'wall st . bears , claw back reuters - short - sellers , " ultra - cynics " , are back .'
expect_eq "csv newline in quotes" "$(q ag.h5 'words(1)')" 'title " two " multi line text'
expect_eq "csv unquoted fields" "$(q ag.h5 'words(2)')" 'plain field'
expect_eq "csv numeric label order" "$(q ag.h5 'L()')" "1 2 3"
expect_eq "csv labels" "$(q ag.h5 'list(f["labels"][:])')" "2 0 1"
# a header with quoted names, LF endings, an empty quoted field
printf '"text","label"\n"a, b",x\n"",y\nc,y\n' > h.csv
run_ok "csv header" --skip-bad -o h.h5 h.csv
expect_eq "csv header docs (empty text skipped)" "$(q h.h5 'f.attrs["n_docs"]')" 2
expect_eq "csv n_skipped" "$(q h.h5 'f.attrs["n_skipped"]')" 1
# line numbers after a multi-line record: the error names the record's first line (4)
printf 'text,label\n"one\ntwo\nthree",a\n"broken "quote",b\n' > ln.csv
run_fail "csv error line after multi-line record" 1 'ln\.csv:5: broken quote' -o ln.h5 ln.csv

# ---- fastText: leading label tokens, prefix stripped
printf '__label__pos great film\n__label__neg  awful __label__x film\n\n' > a.ft
run_ok "fasttext" -o ft.h5 a.ft
expect_eq "fasttext labels" "$(q ft.h5 'L()')" "neg pos"
expect_eq "fasttext label later in text is text" "$(q ft.h5 'words(1)')" "awful _ _ label _ _ x film"
printf '#pos great\n#neg bad\n' > b.txt
run_ok "fasttext custom prefix" --format fasttext --label-prefix '#' -o ft2.h5 b.txt
expect_eq "custom prefix labels" "$(q ft2.h5 'L()')" "neg pos"

# ---- JSONL: escapes, surrogate pairs, numbers and bools as labels, nested values skipped
cat > a.jsonl <<'J'
{"id": 1, "meta": {"x": [1, 2, {"y": null}], "s": "}"}, "text": "caf\u00e9 \"quoted\" \ud83d\ude00 tab\there", "label": 1}

{"label": 0, "text": "plain text", "extra": [true, false, -1.5e3]}
{"text": "a\/b", "label": 1.0}
J
run_ok "jsonl" -o j.h5 a.jsonl
expect_eq "jsonl docs (blank line skipped)" "$(q j.h5 'f.attrs["n_docs"]')" 3
expect_eq "jsonl escapes decoded" "$(q j.h5 'words(0)')" 'café " quoted " 😀 tab here'
expect_eq "jsonl number labels as written" "$(q j.h5 'L()')" "0 1 1.0"
expect_eq "jsonl escaped slash" "$(q j.h5 'words(2)')" 'a / b'
printf '{"review": "nice", "sentiment": true}\n{"review": "meh", "sentiment": false}\n' > k.json
run_ok "jsonl custom keys" --text-field review --label-field sentiment -o k.h5 k.json
expect_eq "jsonl bool labels" "$(q k.h5 'L()')" "false true"

# ---- Unicode passthrough into the vocabulary
printf 'text\tlabel\nÜber naïve Ελληνικά 日本語 😀\ta\nÜBER\tb\n' > u.tsv
run_ok "unicode" -o u.h5 u.tsv
expect_eq "unicode vocab (lowercased, count-ordered)" "$(q u.h5 'w()')" "<pad> <unk> über naïve ελληνικά 日本語 😀"

# ---- stdin and format detection
printf 'label\ttext\n1\tfrom stdin\n2\tagain\n' | "$TCDIST" prepare --format tsv -o s.h5 - > out.txt 2> err.txt \
  && ok "stdin" || fail "stdin: $(cat err.txt)"
expect_eq "stdin words" "$(q s.h5 'words(0)')" "from stdin"
expect_eq "stdin sources" "$(q s.h5 'f.attrs["sources"]')" "-"
cp a.tsv a.txt
run_fail "unknown extension needs --format" 1 "pass --format" -o x.h5 a.txt
run_fail "stdin needs --format" 1 "pass --format" -o x.h5 -
run_fail "mixed formats" 1 "different formats" -o x.h5 a.tsv ag.csv
# several inputs are one corpus, each file with its own header
printf 'label\ttext\n3\tthird file\n' > e.tsv
run_ok "two inputs" -o two.h5 d.tsv e.tsv
expect_eq "two inputs docs" "$(q two.h5 'f.attrs["n_docs"]')" 3
expect_eq "two inputs labels" "$(q two.h5 'L()')" "0 1 3"
finish
