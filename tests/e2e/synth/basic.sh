#!/usr/bin/env bash
# tcdist synth: determinism (seed, --threads), --part streams, --docs count and class balance,
# --bytes size, every output format parses, bad flags exit 2, atomic output.
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$TCDIST" synth -o a.tsv --docs 10000 --seed 7 --threads 1 >/dev/null
"$TCDIST" synth -o b.tsv --docs 10000 --seed 7 --threads 2 >/dev/null
cmp -s a.tsv b.tsv || fail "--threads 1 and 2 differ"
"$TCDIST" synth -o - --docs 10000 --seed 7 --threads 3 > c.tsv
cmp -s a.tsv c.tsv || fail "stdout output differs from file output"
"$TCDIST" synth -o d.tsv --docs 10000 --seed 7 --part 1 >/dev/null
cmp -s a.tsv d.tsv && fail "--part 1 gives the same bytes as --part 0"
"$TCDIST" synth -o e.tsv --docs 10000 --seed 8 >/dev/null
cmp -s a.tsv e.tsv && fail "--seed 8 gives the same bytes as --seed 7"
# a prefix property: the first blocks do not depend on --docs
"$TCDIST" synth -o f.tsv --docs 5000 --seed 7 >/dev/null
cmp -s f.tsv <(head -n 5001 a.tsv) || fail "--docs 5000 is not a prefix of --docs 10000"
ls -a | grep -q '\.tmp\.' && fail "temporary file left behind"

"$PYTHON" - <<'PY' || exit 1
import collections, csv, json, re, subprocess, os, sys
T = os.environ["TCDIST"]
def synth(*a):
    return subprocess.run([T, "synth", "-o", "-", *a], check=True, capture_output=True).stdout.decode("ascii")

# --docs count, labels, class balance, word shape, document lengths, language shared across parts
lines = open("a.tsv").read().split("\n")
assert lines[0] == "text\tlabel" and lines[-1] == "", lines[0]
rows = [l.split("\t") for l in lines[1:-1]]
assert len(rows) == 10000, len(rows)
assert all(len(r) == 2 for r in rows)
c = collections.Counter(r[1] for r in rows)
assert set(c) == {"0", "1"}, c
assert all(abs(v - 5000) < 300 for v in c.values()), c
lens = [len(r[0].split(" ")) for r in rows]
mean = sum(lens) / len(lens)
assert min(lens) >= 1 and 36 < mean < 44, mean
assert all(re.fullmatch(r"[a-z]+( [a-z]+)*", r[0]) for r in rows)
vocab = {w for r in rows for w in r[0].split()}
assert 5000 < len(vocab) <= 20000, len(vocab)
test = {w for l in open("d.tsv").read().split("\n")[1:-1] for w in l.split("\t")[0].split()}
assert len(vocab & test) > 0.8 * len(test), "parts 0 and 1 do not share a language"

# 5 classes, a small vocabulary, signal 1: every word of a class comes from its topic set
t = synth("--docs", "3000", "--classes", "5", "--vocab", "200", "--signal", "1", "--mean-len", "5")
rows = [l.split("\t") for l in t.split("\n")[1:-1]]
c = collections.Counter(r[1] for r in rows)
assert set(c) == {str(i) for i in range(5)} and min(c.values()) > 450, c
per = collections.defaultdict(set)
for text, lab in rows: per[lab] |= set(text.split())
assert all(len(s) <= 10 for s in per.values()), {k: len(s) for k, s in per.items()}  # 200/20 topic words

# each format parses and carries the same documents
n = 500
tsv = [l.split("\t") for l in synth("--docs", str(n), "--seed", "3").split("\n")[1:-1]]
ft = synth("--docs", str(n), "--seed", "3", "--format", "fasttext").split("\n")[:-1]
jl = [json.loads(l) for l in synth("--docs", str(n), "--seed", "3", "--format", "jsonl").split("\n")[:-1]]
cs = list(csv.reader(synth("--docs", str(n), "--seed", "3", "--format", "csv").splitlines()))
assert cs[0] == ["text", "label"] and len(cs) == n + 1
for i in range(n):
    text, lab = tsv[i]
    m = re.fullmatch(r"__label__(\S+) (.*)", ft[i])
    assert m and m.group(1) == lab and m.group(2) == text, ft[i]
    assert jl[i] == {"text": text, "label": lab}, jl[i]
    assert cs[i + 1] == [text, lab]
print("synth: formats and statistics ok")
PY

# --bytes: stops at the first document end at or past SIZE
"$TCDIST" synth -o g.tsv --bytes 3M >/dev/null
sz=$(stat -c %s g.tsv)
[ "$sz" -ge $((3*1024*1024)) ] && [ "$sz" -lt $((3*1024*1024 + 20000)) ] || fail "--bytes 3M wrote $sz bytes"
[ "$(tail -c 1 g.tsv | od -An -c | tr -d ' ')" = '\n' ] || fail "--bytes output does not end with a newline"
"$TCDIST" synth -o h.jsonl --bytes 100k --format jsonl --threads 2 >/dev/null
"$TCDIST" synth -o i.jsonl --bytes 100k --format jsonl --threads 1 >/dev/null
cmp -s h.jsonl i.jsonl || fail "--bytes output depends on --threads"

# usage errors: exit 2, message names the flag
expect2() {
    set +e; "$TCDIST" synth "$@" >out.txt 2>err.txt; rc=$?; set -e
    [ "$rc" = 2 ] || fail "synth $* exited $rc, want 2"
}
expect2 --docs 10
expect2 -o x.tsv --docs 0
expect2 -o x.tsv --docs abc;          grep -q -- "--docs" err.txt || fail "error does not name --docs"
expect2 -o x.tsv --classes 1
expect2 -o x.tsv --signal 1.5
expect2 -o x.tsv --format xml;        grep -q -- "--format" err.txt || fail "error does not name --format"
expect2 -o x.tsv --bytes 12Q;         grep -q -- "--bytes" err.txt || fail "error does not name --bytes"
expect2 -o x.tsv --bytes 1M --docs 5
expect2 -o x.tsv --nope
expect2 -o x.tsv extra
[ ! -e x.tsv ] || fail "a failed synth left x.tsv"
# an output folder that does not exist: error, exit 1
set +e; "$TCDIST" synth -o no/such/dir.tsv --docs 5 2>err.txt; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "no/such/dir.tsv" err.txt || fail "unwritable output: rc $rc"
"$TCDIST" synth --help | grep -q -- "--mean-len" || fail "--help lacks --mean-len"
echo "synth_basic: ok"
