"""tcdist inspect on corpus files written here with h5py (the documented layout of src/corpus.h),
and, when `tcdist prepare` is available, on a prepared one: every number of the human table and
of --json is checked against values computed here. Plus the errors for missing, non-HDF5 and
foreign HDF5 files."""
import json, os, shutil, subprocess, sys, tempfile

import h5py
import numpy as np

TCDIST = os.environ["TCDIST"]
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)
        print("FAIL:", what)


def run(*args):
    return subprocess.run([TCDIST, *args], capture_output=True, text=True)


def nearest_rank(sorted_vals, q):
    n = len(sorted_vals)
    rank = max(1, int(np.ceil(n * q - 1e-12)))
    return int(sorted_vals[rank - 1])


def write_corpus(path, lengths, labels, label_names, words, counts, ngrams=1, buckets=0, extra_attrs=None):
    n_docs = len(lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    n_tokens = int(offsets[-1])
    rng = np.random.default_rng(5)
    with h5py.File(path, "w") as f:
        f.create_dataset("tokens", data=rng.integers(0, len(words), n_tokens).astype(np.int32))
        f.create_dataset("offsets", data=offsets)
        f.create_dataset("labels", data=np.asarray(labels, np.int32))
        st = h5py.string_dtype("utf-8")
        f.create_dataset("vocab/words", data=np.array(words, dtype=object), dtype=st)
        f.create_dataset("vocab/counts", data=np.asarray(counts, np.int64))
        f.create_dataset("label_names", data=np.array(label_names, dtype=object), dtype=st)
        a = f.attrs
        a["format"] = "tcdist-corpus"
        a["version"] = np.int64(1)
        for k, v in dict(n_docs=n_docs, n_tokens=n_tokens, vocab_size=len(words), n_buckets=buckets,
                         n_embeddings=len(words) + buckets, n_classes=len(label_names), ngrams=ngrams,
                         max_len=0, min_count=1, max_vocab=0, n_skipped=3, lowercase=1).items():
            a[k] = np.int64(v)
        a["tokenizer"] = "tcdist-v1"
        a["punct"] = "keep"
        a["invalid_utf8"] = "replace"
        a["input_format"] = "tsv"
        a["sources"] = "a \"quoted\" path\twith tab.tsv"
        a["content_sha256"] = "ab" * 32
        a["vocab_sha256"] = "cd" * 32
        a["created_by"] = "test"
        for k, v in (extra_attrs or {}).items():
            a[k] = v
    return offsets


def expect_summary(path, lengths, labels, label_names, words, counts):
    lengths = np.asarray(lengths)
    r = run("inspect", path, "--json")
    check(r.returncode == 0, f"inspect --json {path} exit {r.returncode}: {r.stderr}")
    try:
        j = json.loads(r.stdout)
    except ValueError as e:
        check(False, f"--json output is not JSON ({e}): {r.stdout[:300]}")
        return None
    check(j["format"] == "tcdist-corpus" and j["version"] == 1, "format/version")
    check(j["n_docs"] == len(lengths), f"n_docs {j['n_docs']} != {len(lengths)}")
    check(j["n_tokens"] == int(lengths.sum()), "n_tokens")
    check(j["vocab_size"] == len(words), "vocab_size")
    check(j["n_classes"] == len(label_names), "n_classes")
    want_classes = [{"name": n, "id": i, "count": int(np.sum(np.asarray(labels) == i))}
                    for i, n in enumerate(label_names)]
    check(j["classes"] == want_classes, f"classes {j['classes']} != {want_classes}")
    s = np.sort(lengths)
    want_len = dict(min=int(s[0]), max=int(s[-1]), median=nearest_rank(s, .5), p90=nearest_rank(s, .9),
                    p99=nearest_rank(s, .99))
    for k, v in want_len.items():
        check(j["length"][k] == v, f"length.{k} {j['length'][k]} != {v}")
    check(abs(j["length"]["mean"] - lengths.mean()) < 1e-4 * max(1, lengths.mean()), "length.mean")
    order = sorted(range(2, len(words)), key=lambda i: (-counts[i], i))[:10]
    check([w["word"] for w in j["top_words"]] == [words[i] for i in order], "top_words")
    return j


tmp = tempfile.mkdtemp(prefix="tcd_inspect_")
try:
    os.chdir(tmp)
    # 1. a small corpus with awkward names and a skewed length distribution
    rng = np.random.default_rng(1)
    n = 1234
    lengths = np.concatenate([rng.geometric(1 / 30, n - 2), [0, 500]]).astype(np.int64)
    labels = rng.integers(0, 3, n)
    names = ["neg", "pos \"quoted\"", "Sci/Tech \u00e9"]
    words = ["<pad>", "<unk>"] + [f"w{i}" for i in range(50)] + ["caf\u00e9", "tab\there"]
    counts = [0, 7] + list(rng.integers(1, 1000, len(words) - 2))
    write_corpus("a.h5", lengths, labels, names, words, counts)
    j = expect_summary("a.h5", lengths, labels, names, words, counts)
    if j:
        check(j["n_skipped"] == 3 and j["tokenizer"]["punct"] == "keep" and j["tokenizer"]["invalid_utf8"] == "replace"
              and j["tokenizer"]["lowercase"] is True and j["tokenizer"]["ngrams"] == 1, "tokenizer/n_skipped")
        check(j["sources"] == "a \"quoted\" path\twith tab.tsv", "sources escaped round trip")
        check(j["content_sha256"] == "ab" * 32 and j["vocab_sha256"] == "cd" * 32, "hashes")
    h = run("inspect", "a.h5")
    check(h.returncode == 0, "human output exit")
    for needle in ["n_docs           1234", f"n_tokens         {int(lengths.sum())}", "neg", "Sci/Tech",
                   "content_sha256   " + "ab" * 32, "min 0  max 500"]:
        check(needle in h.stdout, f"human output lacks {needle!r}:\n{h.stdout}")

    # 2. more documents than one read slice (1Mi) would be slow in a test; instead check an empty-ish
    #    corpus of one document and one class.
    write_corpus("one.h5", [4], [0], ["only"], ["<pad>", "<unk>", "x"], [0, 0, 4])
    expect_summary("one.h5", [4], [0], ["only"], ["<pad>", "<unk>", "x"], [0, 0, 4])

    # 3. errors: missing, not HDF5, HDF5 without format, other format, damaged labels, bad usage
    with open("text.h5", "w") as f:
        f.write("hello\n")
    with h5py.File("foreign.h5", "w") as f:
        f.create_dataset("x", data=np.arange(3))
    with h5py.File("other.h5", "w") as f:
        f.attrs["format"] = "something-else"
    for path, needle in [("missing.h5", "missing.h5"), ("text.h5", "not an HDF5 file"),
                         ("foreign.h5", "not a tcdist file"), ("other.h5", "something-else")]:
        r = run("inspect", path)
        check(r.returncode == 1, f"inspect {path}: exit {r.returncode}, want 1")
        check(needle in r.stderr and path in r.stderr, f"inspect {path}: stderr {r.stderr!r} lacks {needle!r}")
        check(r.stdout == "", f"inspect {path}: printed to stdout")
    shutil.copy("a.h5", "bad.h5")
    with h5py.File("bad.h5", "a") as f:
        f["labels"][5] = 7
    r = run("inspect", "bad.h5", "--json")
    check(r.returncode == 1 and "document 5" in r.stderr, f"damaged labels: {r.returncode} {r.stderr}")
    check(run("inspect").returncode == 2, "no FILE -> exit 2")
    check(run("inspect", "a.h5", "--jsn").returncode == 2, "unknown flag -> exit 2")

    # 4. a corpus made by tcdist prepare (one bad record, skipped and counted)
    with open("small.tsv", "w") as f:
        f.write("text\tlabel\nGood movie, good!\tpos\nbad\tneg\n\tneg\nA b c d e f\tpos\nfine .\tneu\n")
    p = run("prepare", "small.tsv", "-o", "small.h5", "--skip-bad")
    check(p.returncode == 0, f"prepare small.tsv: {p.returncode} {p.stderr}")
    if p.returncode == 0:
        j = json.loads(run("inspect", "small.h5", "--json").stdout)
        check(j["n_docs"] == 4 and j["n_skipped"] == 1, f"prepared: n_docs {j['n_docs']} n_skipped {j['n_skipped']}")
        got = {c["name"]: c["count"] for c in j["classes"]}
        check(got == {"pos": 2, "neg": 1, "neu": 1}, f"prepared: classes {got}")
        # "good movie , good !" = 5, "bad" = 1, "a b c d e f" = 6, "fine ." = 2
        check(j["n_tokens"] == 14 and j["length"]["min"] == 1 and j["length"]["max"] == 6
              and j["length"]["median"] == 2 and j["length"]["p90"] == 6, f"prepared: lengths {j['length']}")
        check(j["input_format"] == "tsv" and "small.tsv" in j["sources"], "prepared: input_format/sources")
        with h5py.File("small.h5", "r") as f:
            L = np.diff(f["offsets"][:])
            check(j["n_tokens"] == int(L.sum()), "prepared: n_tokens vs offsets")
        h = run("inspect", "small.h5")
        check(h.returncode == 0 and "neu" in h.stdout and "n_skipped        1" in h.stdout, "prepared: human table")
finally:
    os.chdir("/")
    shutil.rmtree(tmp, ignore_errors=True)

if fails:
    print(f"{len(fails)} check(s) failed")
    sys.exit(1)
print("inspect: all checks passed")
