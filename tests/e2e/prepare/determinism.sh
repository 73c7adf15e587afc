# Same input and settings -> byte-identical vocabulary and the same content_sha256, whatever the
# thread count and read block size; the hashes match an independent re-computation (Python).
source "$(dirname "$0")/lib.sh"

# ~1.5 MB of CSV with quoted commas, "" and newlines inside quotes (records straddle the 4 KiB blocks)
"$PYTHON" - <<'PY'
import random
r = random.Random(7)
words = ["w%d" % i for i in range(3000)] + ["Ünï", "日本", "don't", "x,y", 'say "hi"']
with open("big.csv", "w", encoding="utf-8", newline="") as f:
    f.write("label,text\r\n")
    for i in range(12000):
        n = r.randint(1, 40)
        t = " ".join(r.choice(words) for _ in range(n))
        if r.random() < 0.1: t += "\nsecond line"
        f.write('%d,"%s"\r\n' % (r.randint(0, 3), t.replace('"', '""')))
PY

run_ok "threads 1, 4 KiB blocks" --threads 1 --block-kb 4 --ngrams 2 --buckets 5000 -o a.h5 big.csv
run_ok "threads 2, default blocks" --threads 2 --ngrams 2 --buckets 5000 -o b.h5 big.csv
run_ok "threads 3, 64 KiB blocks" --threads 3 --block-kb 64 --ngrams 2 --buckets 5000 -o c.h5 big.csv
run_ok "re-run threads 1" --threads 1 --block-kb 4 --ngrams 2 --buckets 5000 -o d.h5 big.csv
expect_eq "docs" "$(q a.h5 'f.attrs["n_docs"]')" 12000
h5dump -d /vocab/words/bytes -d /vocab/words/offsets a.h5 | tail -n +2 > wa.txt
for x in b c d; do
  h5dump -d /vocab/words/bytes -d /vocab/words/offsets $x.h5 | tail -n +2 > w$x.txt
  if cmp -s wa.txt w$x.txt; then ok "vocab/words identical ($x)"; else fail "vocab/words differ ($x)"; fi
  expect_eq "content_sha256 ($x)" "$(q $x.h5 'f.attrs["content_sha256"]')" "$(q a.h5 'f.attrs["content_sha256"]')"
  D='__import__("hashlib").sha256(f["tokens"][:].tobytes() + f["offsets"][:].tobytes() + f["labels"][:].tobytes()).hexdigest()'
  expect_eq "tokens, offsets, labels identical ($x)" "$(q $x.h5 "$D")" "$(q a.h5 "$D")"
done
# a different setting changes the hash
run_ok "lowercase off" --no-lowercase --ngrams 2 --buckets 5000 -o e.h5 big.csv
if [ "$(q e.h5 'f.attrs["content_sha256"]')" != "$(q a.h5 'f.attrs["content_sha256"]')" ]; then
  ok "settings change the hash"; else fail "content hash ignores the settings"; fi

# independent re-computation of both hashes from the stored datasets, per the documented recipe
check=$("$PYTHON" - a.h5 <<'PY'
import sys, struct, hashlib, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def field(h, b): h.update(struct.pack("<Q", len(b))); h.update(b)
def table(name):
    b, o = f[name + "/bytes"][()].tobytes(), f[name + "/offsets"][()]
    return [b[o[i]:o[i + 1]] for i in range(len(o) - 1)]
hv = hashlib.sha256()
for w in table("vocab/words"): field(hv, w)
vocab_hex = hv.hexdigest()
a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
settings = "tokenizer=%s;lowercase=%d;punct=%s;invalid_utf8=%s;ngrams=%d;buckets=%d;max_len=%d" % (
    a["tokenizer"], a["lowercase"], a["punct"], a["invalid_utf8"], a["ngrams"], a["n_buckets"], a["max_len"])
names = b"\n".join(table("label_names"))
hc = hashlib.sha256()
for part in [b"tcdist-corpus-v1", settings.encode(), vocab_hex.encode(), names,
             hashlib.sha256(f["tokens"][:].astype("<i4").tobytes()).hexdigest().encode(),
             hashlib.sha256(f["offsets"][:].astype("<i8").tobytes()).hexdigest().encode(),
             hashlib.sha256(f["labels"][:].astype("<i4").tobytes()).hexdigest().encode()]:
    field(hc, part)
print(vocab_hex == a["vocab_sha256"], hc.hexdigest() == a["content_sha256"])
PY
)
expect_eq "hashes match the recipe" "$check" "True True"
finish
