#!/usr/bin/env python3
"""IMDB Large Movie Review Dataset (aclImdb v1) -> OUTDIR/train.jsonl and OUTDIR/test.jsonl.

Input: aclImdb_v1.tar.gz from the official address
    https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz
(read as a stream, never extracted to disk), or the extracted aclImdb folder.

Output: one review per line, {"text": ..., "label": "neg"|"pos"} (or, with --format tsv, a
"text<TAB>label" file with tabs and newlines in the text replaced by spaces). HTML line breaks
(<br />, <br/>, <br>) become a space. The 50,000 unlabelled train/unsup reviews are skipped.
Order: sorted by the path inside aclImdb/ (deterministic). Standard library only."""
import argparse, json, os, re, sys, tarfile

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
MEMBER = re.compile(r"(?:^|/)aclImdb/(train|test)/(neg|pos)/([^/]+\.txt)$")


def reviews_from_tar(path):
    """(split, label, relative path, text) of every labelled review, streamed ('r|gz')."""
    with tarfile.open(path, "r|gz") as tf:
        for m in tf:
            if not m.isfile():
                continue
            g = MEMBER.search(m.name)
            if not g:
                continue
            f = tf.extractfile(m)
            yield g.group(1), g.group(2), f"{g.group(1)}/{g.group(2)}/{g.group(3)}", f.read()


def reviews_from_dir(root):
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            d = os.path.join(root, split, label)
            if not os.path.isdir(d):
                sys.exit(f"imdb.py: {d}: missing (is {root} the extracted aclImdb folder?)")
            for name in os.listdir(d):
                if name.endswith(".txt"):
                    with open(os.path.join(d, name), "rb") as f:
                        yield split, label, f"{split}/{label}/{name}", f.read()


def clean(raw, where, tsv):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"imdb.py: {where}: not valid UTF-8 ({e})")
    text = BR.sub(" ", text)
    if tsv:
        text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + f"\n\nDownload: {URL}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="aclImdb_v1.tar.gz or the extracted aclImdb folder")
    ap.add_argument("outdir", help="output folder (created)")
    ap.add_argument("--format", choices=("jsonl", "tsv"), default="jsonl", help="output format [jsonl]")
    a = ap.parse_args()
    if os.path.isdir(a.src):
        it = reviews_from_dir(a.src)
    elif os.path.isfile(a.src):
        if not tarfile.is_tarfile(a.src):
            sys.exit(f"imdb.py: {a.src}: not a tar archive (expected aclImdb_v1.tar.gz from {URL})")
        it = reviews_from_tar(a.src)
    else:
        sys.exit(f"imdb.py: {a.src}: no such file or folder (download {URL})")
    tsv = a.format == "tsv"
    # Hold the labelled reviews (~65 MB) so that the output order is sorted by path whatever the
    # order in the archive.
    docs = {"train": [], "test": []}
    for split, label, rel, raw in it:
        docs[split].append((rel, label, clean(raw, f"{a.src}:{rel}", tsv)))
    os.makedirs(a.outdir, exist_ok=True)
    ext = "tsv" if tsv else "jsonl"
    for split in ("train", "test"):
        rows = sorted(docs[split])
        if not rows:
            sys.exit(f"imdb.py: {a.src}: no labelled {split} reviews found (expected aclImdb/{split}/neg|pos/*.txt)")
        out = os.path.join(a.outdir, f"{split}.{ext}")
        tmp = out + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            if tsv:
                f.write("text\tlabel\n")
            for _, label, text in rows:
                if tsv:
                    f.write(f"{text}\t{label}\n")
                else:
                    f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
        n_pos = sum(1 for r in rows if r[1] == "pos")
        print(f"{out}: {len(rows)} reviews (neg: {len(rows) - n_pos}, pos: {n_pos})")
    print("train/unsup skipped: unlabelled")
    o = a.outdir
    print("next:")
    print(f"  tcdist prepare --format {ext} -o {o}/train.h5 {o}/train.{ext}")
    print(f"  tcdist prepare --format {ext} --vocab {o}/train.h5 -o {o}/test.h5 {o}/test.{ext}")


if __name__ == "__main__":
    main()
