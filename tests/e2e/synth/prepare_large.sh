#!/usr/bin/env bash
# A multi-MB synthetic corpus through the whole data path: synth (>= 20 MB, 2 threads) ->
# prepare -> inspect --json, whose n_docs / classes must match the lines synth wrote.
set -euo pipefail
: "${TCDIST:?}" "${PYTHON:=python3}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
"$TCDIST" synth -o big.tsv --bytes 21M --classes 3 --threads 2 --seed 11 >/dev/null
sz=$(stat -c %s big.tsv)
[ "$sz" -ge $((21*1024*1024)) ] || { echo "FAIL: synth wrote only $sz bytes" >&2; exit 1; }
n_docs=$(( $(wc -l < big.tsv) - 1 ))
"$TCDIST" prepare --format tsv -o big.h5 big.tsv >/dev/null
"$TCDIST" inspect big.h5 --json > big.json
"$TCDIST" synth -o test.tsv --docs 3000 --classes 3 --seed 11 --part 1 >/dev/null
"$TCDIST" prepare --format tsv --vocab big.h5 -o test.h5 test.tsv >/dev/null
"$TCDIST" inspect test.h5 --json > test.json
N_DOCS=$n_docs "$PYTHON" - <<'PY'
import collections, json, os
j = json.load(open("big.json"))
n = int(os.environ["N_DOCS"])
assert j["n_docs"] == n, (j["n_docs"], n)
want = collections.Counter(l.rsplit("\t", 1)[1] for l in open("big.tsv").read().split("\n")[1:-1])
got = {c["name"]: c["count"] for c in j["classes"]}
assert got == dict(want), (got, want)
n_words = sum(len(l.rsplit("\t", 1)[0].split()) for l in open("big.tsv").read().split("\n")[1:-1])
assert j["n_tokens"] == n_words, (j["n_tokens"], n_words)
t = json.load(open("test.json"))
assert t["n_docs"] == 3000 and t["vocab_size"] == j["vocab_size"] and t["vocab_sha256"] == j["vocab_sha256"], t
print(f"synth -> prepare -> inspect: {n} docs, {n_words} tokens, vocab {j['vocab_size']}: ok")
PY
