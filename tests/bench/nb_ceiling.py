#!/usr/bin/env python3
"""The accuracy ceiling of a `tcdist synth` corpus, estimated (issue 12's panel).

`tcdist synth` draws a document's class uniformly, its length independently of the class, and each
word independently from a mixture of the class's topic and a shared distribution. Naive Bayes is
therefore the Bayes-optimal classifier's form for these corpora: with word probabilities counted on
a large training split, its test accuracy estimates the best accuracy any model can reach there, so
that a gap between two tools can be read against it.

    python3 tests/bench/nb_ceiling.py TRAIN.ft TEST.ft [--alpha 0.1]

Reads fastText-format files (bench_panel.py writes them as WORK/NAME/train.ft and test.ft), one
label per line. Prints the test accuracy, the documents counted and the standard error of the
accuracy over the test documents. Standard library only. Not a CTest test: run it by hand."""
import argparse
import math
import sys
from collections import Counter, defaultdict


def read(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            toks = line.split()
            labs = [t for t in toks if t.startswith("__label__")]
            if len(labs) != 1:
                sys.exit(f"{path}:{n}: expected one __label__ token, found {len(labs)}")
            yield labs[0][9:], [t for t in toks if not t.startswith("__label__")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--alpha", type=float, default=0.1, help="add-alpha smoothing of the word counts")
    args = ap.parse_args()
    counts = defaultdict(Counter)
    docs = Counter()
    vocab = set()
    for lab, words in read(args.train):
        docs[lab] += 1
        counts[lab].update(words)
        vocab.update(words)
    if len(docs) < 2:
        sys.exit(f"{args.train}: fewer than two classes")
    V = len(vocab) + 1  # + one slot for words unseen in training
    total = {c: sum(counts[c].values()) for c in counts}
    prior = {c: math.log(docs[c] / sum(docs.values())) for c in docs}
    right = n = 0
    for lab, words in read(args.test):
        best, best_s = None, -math.inf
        for c in docs:
            cc, den = counts[c], math.log(total[c] + args.alpha * V)
            s = prior[c] + sum(math.log(cc.get(w, 0) + args.alpha) - den for w in words)
            if s > best_s:
                best, best_s = c, s
        right += best == lab
        n += 1
    if not n:
        sys.exit(f"{args.test}: no documents")
    acc = right / n
    print(f"naive Bayes: accuracy {acc:.4f} ({right} of {n}), standard error {math.sqrt(acc * (1 - acc) / n):.4f}; "
          f"trained on {sum(docs.values())} documents, {len(vocab)} words, alpha {args.alpha}")


if __name__ == "__main__":
    main()
