#!/usr/bin/env python3
"""A held-out split of SST-2's training file that does not leak, for choosing settings without the
dev split (tests/bench/results/2026-12-06-cnn-accuracy.md).

GLUE's SST-2 train.tsv holds the phrases of the training sentences, so a random fraction of it
shares phrases with the rest. Held out instead: N random training phrases of at least MIN tokens
(seed SEED); every other training phrase that is a substring of a held-out one, or holds one, is
dropped from training (token sequences, whitespace normalised).

    python3 tests/bench/sst2_heldout.py [--data ../shared/data/sst2] [--n 800] [--min 12]
        [--seed 12] OUTDIR

writes OUTDIR/train.tsv and OUTDIR/heldout.tsv (header "sentence<TAB>label", for `tcdist prepare
--text-field sentence`; prepare heldout.tsv with `--vocab` of the training file). Standard library
only. Exits with a message if the corpus is absent."""
import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f.read().splitlines()[1:], 2):
            if "\t" not in line:
                sys.exit(f"{path}:{n}: expected sentence<TAB>label")
            text, label = line.rsplit("\t", 1)
            rows.append((" ".join(text.split()), label))
    return rows


def split(rows, n, min_tokens, seed):
    """(train rows, held-out rows, number dropped for overlapping a held-out phrase)."""
    long_ = [i for i, (t, _) in enumerate(rows) if len(t.split()) >= min_tokens]
    if len(long_) < n:
        sys.exit(f"only {len(long_)} training phrases have {min_tokens} tokens or more; --n {n} is too many")
    held = set(random.Random(seed).sample(long_, n))
    spans = [f" {rows[i][0]} " for i in held]
    train, dropped = [], 0
    for i, (t, label) in enumerate(rows):
        if i in held:
            continue
        s = f" {t} "
        if any(s in h or h in s for h in spans):
            dropped += 1
            continue
        train.append((t, label))
    return train, [rows[i] for i in sorted(held)], dropped


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        f.writelines(f"{t}\t{label}\n" for t, label in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))),
                                                   "shared", "data", "sst2"))
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--min", type=int, default=12)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("outdir")
    a = ap.parse_args()
    src = os.path.join(a.data, "train.tsv")
    if not os.path.exists(src):
        sys.exit(f"SST-2 not found: {src} is absent")
    train, held, dropped = split(read_rows(src), a.n, a.min, a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    write(os.path.join(a.outdir, "train.tsv"), train)
    write(os.path.join(a.outdir, "heldout.tsv"), held)
    print(f"held out {len(held)}, dropped {dropped} overlapping phrases, {len(train)} left to train on")


if __name__ == "__main__":
    main()
