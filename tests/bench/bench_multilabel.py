#!/usr/bin/env python3
"""Multi-label benchmark: tcdist's one-vs-all loss against `fasttext supervised -loss ova` on the same
synthetic text (`tcdist synth --labels-per-doc K`, fastText format, which both read as is: the
synthetic words are lowercase and unpunctuated, so both tokenize them alike). Reports P@1 and
micro-F1 at threshold 0.5 on a held-out part, and the training wall time, and writes them to a
dated Markdown file in tests/bench/results/.

    python3 tests/bench/bench_multilabel.py [--tcdist build/tcdist] [--out FILE.md]

Cases: 6 classes with 2 labels a document, and 20 classes with 3; 40,000 training and 5,000 test
documents each, mean length 40 words, --signal 0.3 (each word is from one of the document's
classes' topics with probability 0.3, else from the shared distribution).
Both: dim 16, 5 epochs, 2 threads. tcdist: its defaults (lr 0.004, batch 192, linear decay; the
one-vs-all loss is chosen by itself for a multi-label corpus), --lr 0.02, and --lr 0.02 --hidden 0
(no hidden layer: fastText's architecture); fastText: -lr 0.5
and its default -lr 0.1, -loss ova. Metrics: tcdist from `tcdist eval --json`; fastText from
`fasttext predict-prob MODEL TEST -1 0.5` (micro-F1 over all (document, class) decisions) and
`fasttext predict MODEL TEST 1` (P@1), computed here against the test file's labels.
Not a CTest test: run it by hand (about a minute on 2 cores)."""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t0, p.stdout


def gold_of(path):
    return [set(w[9:] for w in line.split() if w.startswith("__label__")) for line in open(path)]


def ft_scores(model, test, gold):
    _, out = run(["fasttext", "predict-prob", model, test, "-1", "0.5"])
    tp = fp = fn = 0
    lines = out.splitlines()
    assert len(lines) == len(gold), (len(lines), len(gold))
    for line, g in zip(lines, gold):
        toks = line.split()
        pred = {toks[i][9:] for i in range(0, len(toks), 2)}
        tp += len(pred & g)
        fp += len(pred - g)
        fn += len(g - pred)
    _, out = run(["fasttext", "predict", model, test, "1"])
    hits = sum(1 for line, g in zip(out.splitlines(), gold) if line.strip()[9:] in g)
    return hits / len(gold), 2 * tp / (2 * tp + fp + fn)


def case(tcd, tmp, name, classes, k):
    tr, te = os.path.join(tmp, name + "-train.ft"), os.path.join(tmp, name + "-test.ft")
    common = ["--classes", str(classes), "--labels-per-doc", str(k), "--vocab", "20000", "--mean-len", "40",
              "--signal", "0.3", "--seed", "3", "--format", "fasttext"]
    run([tcd, "synth", "--docs", "40000", *common, "-o", tr])
    run([tcd, "synth", "--docs", "5000", "--part", "1", *common, "-o", te])
    trh, teh = os.path.join(tmp, name + "-train.h5"), os.path.join(tmp, name + "-test.h5")
    run([tcd, "prepare", "-o", trh, tr])
    run([tcd, "prepare", "--vocab", trh, "-o", teh, te])
    gold = gold_of(te)
    rows = []
    for label, extra in (("tcdist (defaults)", []), ("tcdist --lr 0.02", ["--lr", "0.02"]),
                         ("tcdist --lr 0.02 --hidden 0", ["--lr", "0.02", "--hidden", "0"])):
        rd = os.path.join(tmp, name + "-run" + str(len(rows)))
        secs, _ = run([tcd, "train", "--data", trh, "--run-dir", rd, "--epochs", "5", "--threads", "2", "--quiet",
                       "--no-checkpoint", "--overwrite", *extra])
        _, out = run([tcd, "eval", "--model", rd, "--data", teh, "--json"])
        e = json.loads(out)
        rows.append((label, e["p_at_1"], e["micro_f1"], secs))
    for lr in ("0.5", "0.1"):
        mp = os.path.join(tmp, name + "-ft" + lr)
        secs, _ = run(["fasttext", "supervised", "-input", tr, "-output", mp, "-loss", "ova", "-dim", "16",
                       "-epoch", "5", "-lr", lr, "-thread", "2", "-verbose", "0"])
        p1, f1 = ft_scores(mp + ".bin", te, gold)
        rows.append((f"fastText -loss ova -lr {lr}", p1, f1, secs))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--out", default=os.path.join(HERE, "results", datetime.date.today().isoformat() + "-multilabel.md"))
    a = ap.parse_args()
    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout
                .splitlines() if l.startswith("Model name")), platform.processor())
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    ftv = subprocess.run(["fasttext"], capture_output=True, text=True)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = {name: case(a.tcdist, tmp, name, c, k) for name, c, k in (("6 classes, 2 labels", 6, 2),
                                                                             ("20 classes, 3 labels", 20, 3))}
    total = time.perf_counter() - t0
    lines = ["# Multi-label: tcdist one-vs-all against fastText -loss ova", "",
             f"{started}; {cpu}, {os.cpu_count()} CPUs; {platform.platform()}; tcdist {commit}; Debian fasttext "
             f"{subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'fasttext'], capture_output=True, text=True).stdout or '?'}. "
             f"Command: `python3 tests/bench/bench_multilabel.py` (under /work/bin/cpu-shared), {total:.0f} s in all. One run each.",
             "",
             "Data: `tcdist synth --labels-per-doc K --signal 0.3 --mean-len 40 --vocab 20000`, 40,000 training and "
             "5,000 test documents in fastText format, read by both. Both: dim 16, 5 epochs, 2 threads. "
             "P@1: the most probable label is one of the document's; micro-F1: every class with probability >= 0.5 "
             "is predicted, over all (document, class) pairs.", ""]
    for name, rows in results.items():
        lines += [f"## {name}", "", "| run | P@1 | micro-F1 | train s |", "|---|---|---|---|"]
        for label, p1, f1, secs in rows:
            lines.append(f"| {label} | {p1:.4f} | {f1:.4f} | {secs:.2f} |")
        lines.append("")
    text = "\n".join(lines)
    open(a.out, "w").write(text)
    print(text)
    print("written:", a.out)


if __name__ == "__main__":
    main()
