#!/usr/bin/env python3
"""Hyperparameter search at the same time budget: `tcdist tune` against `fasttext supervised
-autotune-validation`, on a small table of corpora (CORPORA below):

  sst2     SST-2 (GLUE, ../shared/data/sst2): train -> test on dev (872 sentences)
  sst2-heldout
           the same, validated on sst2_heldout.py's split instead of a random tenth (800 training
           phrases of 12 tokens or more held out, the training phrases that overlap them dropped:
           GLUE's train holds the phrases of its sentences, so a random tenth shares them with the
           rest and rewards recall of phrases)
  imdb     IMDB (../shared/data/imdb/aclImdb_v1_nofeat.tar.gz, converted by datasets/imdb.py):
           train 25k -> test 25k
  agnews   AG News test.csv (../shared/data/agnews, converted by datasets/agnews.py), split by row
           index as in bench_panel.py: i % 5 == 4 -> test (1,520), the rest -> train (6,080)

For each corpus both tools search on the same 90% of its train split and rank by accuracy on the
same held-out 10% (a fixed shuffle, random.Random(0); sst2-heldout: its own split, above); the
winner of each is then scored on the test split, which neither search sees. For each (corpus, budget), one after the other: tcdist, then
fastText. Reports how many trials each finished, the winner's validation and test accuracy and the
wall time, and writes a dated Markdown file to tests/bench/results/ (rewritten after every pair, so
an interrupted run leaves the pairs it finished).

    python3 tests/bench/bench_tune.py [--budgets 60,300] [--corpora sst2,sst2-heldout,imdb,agnews]
        [--trials N] [--tcdist build/tcdist] [--data ../shared/data] [--work DIR] [--out FILE]

tcdist: `tune --valid VALID.h5 --budget B --threads 2` with the default space and schedule, and no
--trials: tune sizes the search to the budget itself (docs/tuning.md: brackets of successive
halving, 1, 3 and 9 epochs, each as large as the time left allows, until the budget is spent).
`--trials N` gives tune an explicit count instead (one bracket of N points, cut by the budget). The
rule that used to guess N from the corpus's size is gone (results/2026-12-06-tune-fasttext.md).
fastText: `-autotune-validation VALID -autotune-duration B -thread 2` (its own search space: lr,
dim, wordNgrams, epoch, ...); its trial count is the last `Trials:` of its `-verbose 2` output.
Not a CTest test: run it by hand on an otherwise idle machine. A corpus whose files are absent is
skipped with a message; without fastText, or with no corpus, it says so and exits 0."""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PUNCT = re.compile(r'([!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~])')


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t0, p.stdout, p.stderr


def ft_line(text, label):
    """fastText's input: lowercased, punctuation split off (what tcdist's tokenizer does)."""
    return f"__label__{label} " + " ".join(PUNCT.sub(r" \1 ", text.lower()).split()) + "\n"


def tsv_rows(path):
    """(text, label) of a TSV with a header line, the label in the last column."""
    return [tuple(l.rsplit("\t", 1)) for l in open(path, encoding="utf-8").read().splitlines()[1:]]


def load_sst2(data, work):
    d = os.path.join(data, "sst2")
    return tsv_rows(os.path.join(d, "train.tsv")), tsv_rows(os.path.join(d, "dev.tsv"))


def load_sst2_heldout(data, work):
    """SST-2 with sst2_heldout.py's split as the validation part (its defaults: 800 training phrases of
    12 tokens or more held out, every training phrase that overlaps one of them dropped): the random
    tenth of load_sst2 shares phrases with the other nine tenths, this one does not."""
    import sst2_heldout
    d = os.path.join(data, "sst2")
    train, held, _ = sst2_heldout.split(sst2_heldout.read_rows(os.path.join(d, "train.tsv")), 800, 12, 12)
    return train, tsv_rows(os.path.join(d, "dev.tsv")), held


def load_imdb(data, work):
    d = os.path.join(work, "imdb", "src")  # the converter's output, apart from the parts written below
    if not os.path.exists(os.path.join(d, "test.jsonl")):
        run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"),
             os.path.join(data, "imdb", "aclImdb_v1_nofeat.tar.gz"), d])
    rows = lambda s: [(r["text"], r["label"]) for r in map(json.loads, open(os.path.join(d, f"{s}.jsonl")))]
    return rows("train"), rows("test")


def load_agnews(data, work):
    d = os.path.join(work, "agnews", "src")
    if not os.path.exists(os.path.join(d, "test.tsv")):
        run([sys.executable, os.path.join(ROOT, "datasets", "agnews.py"), os.path.join(data, "agnews"), d])
    rows = tsv_rows(os.path.join(d, "test.tsv"))
    return [r for i, r in enumerate(rows) if i % 5 != 4], [r for i, r in enumerate(rows) if i % 5 == 4]


# name: (files that must exist under DATA, a description for the report,
#        loader -> (train rows, test rows), or (train, test, valid rows) where it has its own split)
CORPORA = {
    "sst2": (["sst2/train.tsv", "sst2/dev.tsv"], "SST-2 train (split 90/10) -> dev", load_sst2),
    "sst2-heldout": (["sst2/train.tsv", "sst2/dev.tsv"],
                     "SST-2 train, 800 long phrases held out, overlapping phrases dropped -> dev",
                     load_sst2_heldout),
    "imdb": (["imdb/aclImdb_v1_nofeat.tar.gz"], "IMDB train 25k (split 90/10) -> test 25k", load_imdb),
    "agnews": (["agnews/test.csv", "agnews/classes.txt"],
               "AG News test.csv, i % 5 != 4 (split 90/10) -> i % 5 == 4", load_agnews),
}


def prepare(args, name):
    """The corpus's valid/train/test parts as JSONL (tcdist), fastText lines and .h5 files."""
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    loaded = CORPORA[name][2](args.data, args.work)
    if len(loaded) == 3:  # the loader's own validation part
        parts = {"valid": loaded[2], "train": loaded[0], "test": loaded[1]}
    else:
        train, test = loaded
        random.Random(0).shuffle(train)
        n_valid = len(train) // 10
        parts = {"valid": train[:n_valid], "train": train[n_valid:], "test": test}
    paths = {}
    for part, rs in parts.items():
        js, ft = os.path.join(work, f"{part}.jsonl"), os.path.join(work, f"{part}.ft")
        with open(js, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"text": t, "label": l}) + "\n" for t, l in rs)
        with open(ft, "w", encoding="utf-8") as f:
            f.writelines(ft_line(t, l) for t, l in rs)
        paths[part] = dict(js=js, ft=ft, h5=os.path.join(work, f"{part}.h5"))
    tc = args.tcdist
    run([tc, "prepare", "--threads", "2", "-o", paths["train"]["h5"], paths["train"]["js"]])
    for part in ("valid", "test"):
        run([tc, "prepare", "--threads", "2", "--vocab", paths["train"]["h5"], "-o", paths[part]["h5"],
             paths[part]["js"]])
    info = json.loads(run([tc, "inspect", paths["train"]["h5"], "--json"])[1])
    return paths, dict(sizes={k: len(v) for k, v in parts.items()}, tokens=info["n_tokens"],
                       classes=info["n_classes"])


def bench_tcdist(args, paths, work, budget, trials):
    rd = os.path.join(work, f"tune-{budget}")
    shutil.rmtree(rd, ignore_errors=True)
    wall, out, _ = run([args.tcdist, "tune", "--data", paths["train"]["h5"], "--valid", paths["valid"]["h5"],
                        "--run-dir", rd, "--budget", str(budget), "--threads", "2", "--quiet"] +
                       (["--trials", str(trials)] if trials else []))
    recs = [json.loads(l) for l in open(os.path.join(rd, "trials.jsonl"))]
    brackets = {}  # budget-driven: bracket -> its points (the last record of each)
    if os.path.exists(os.path.join(rd, "brackets.jsonl")):
        for b in map(json.loads, open(os.path.join(rd, "brackets.jsonl"))):
            brackets[b["bracket"]] = b["points"]
    _, ev, _ = run([args.tcdist, "eval", "--model", os.path.join(rd, "best"), "--data", paths["test"]["h5"], "--json"])
    best = re.search(r"^best: (\S+) \(accuracy ([0-9.]+)\)", out, re.M)
    cfg = next(r for r in recs if r["id"] == best.group(1))
    per_rung = [sum(r["rung"] == k for r in recs) for k in range(max(r["rung"] for r in recs) + 1)]
    return dict(wall=wall, n=len(recs), trials=f"{len(recs)} ({' + '.join(map(str, per_rung))})",
                points=len({r["point"] for r in recs}),
                brackets=" + ".join(str(brackets[k]) for k in sorted(brackets)) if brackets else "1",
                valid=float(best.group(2)), test=json.loads(ev)["accuracy"],
                best=json.dumps(dict(cfg["config"], epochs=cfg["epochs"])))


def bench_fasttext(args, paths, work, budget):
    model = os.path.join(work, f"ft-{budget}")
    wall, out, err = run(["fasttext", "supervised", "-input", paths["train"]["ft"], "-output", model,
                          "-autotune-validation", paths["valid"]["ft"], "-autotune-duration", str(budget),
                          "-thread", "2", "-verbose", "2"])
    text = out + err
    trials = re.findall(r"Trials:\s*(\d+)", text)
    valid = re.findall(r"Best score:\s*([0-9.]+)", text)
    # `fasttext test` prints P@1 to 3 significant digits: count the predictions instead
    _, pred, _ = run(["fasttext", "predict", model + ".bin", paths["test"]["ft"]])
    gold = [l.split(" ", 1)[0] for l in open(paths["test"]["ft"], encoding="utf-8")]
    pred = [l.strip() for l in pred.splitlines()]
    _, dump, _ = run(["fasttext", "dump", model + ".bin", "args"])
    return dict(wall=wall, n=int(trials[-1]) if trials else None, trials=trials[-1] if trials else "?",
                valid=float(valid[-1]) if valid else None,
                test=sum(g == p for g, p in zip(gold, pred)) / len(gold), best=" ".join(dump.split()))


def fmt(x):
    return "?" if x is None else f"{x:.4f}"


def report(args, info, results):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    date = datetime.date.today().isoformat()
    lines = [
        f"# tcdist tune against fastText autotune, {date}",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}.",
        "",
        "Command: `python3 tests/bench/bench_tune.py " + " ".join(sys.argv[1:]) + "`. For each corpus both tools "
        "search on the same 90% of its train split and rank by accuracy on the same held-out 10% (a fixed "
        "shuffle; sst2-heldout: 800 long training phrases, the phrases overlapping them dropped from "
        "training); each winner is then scored on the test split. 2 threads each, one after the other "
        "(tcdist, then fastText, for each corpus and budget). fastText's wall time includes its final "
        "training on the best arguments after the search; tcdist's includes writing DIR/best.",
        "",
        "tcdist `--trials`: " + (f"{args.trials}, given on the command line (one bracket, cut by the budget)"
                                 if args.trials else "none: `--budget B` alone, tune sizes the search to the "
                                 "budget (brackets of successive halving until it is spent)") + ".",
        "",
        "| corpus | train / valid / test docs | train tokens | classes |",
        "|---|---|---|---|",
    ]
    for name, c in info.items():
        z = c["sizes"]
        lines.append(f"| {name} | {z['train']} / {z['valid']} / {z['test']} | {c['tokens']} | {c['classes']} |")
    lines += ["", "| corpus | budget s | tool | --trials | brackets (points) | trials finished | best valid accuracy | "
              "test accuracy | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for (name, b), (n, t, f) in results.items():
        lines.append(f"| {name} | {b} | tcdist tune | {n or 'budget'} | {t['brackets']} | {t['trials']} | "
                     f"{fmt(t['valid'])} | {fmt(t['test'])} | {t['wall']:.1f} |")
        if f:
            lines.append(f"| {name} | {b} | fastText autotune | | | {f['trials']} | {fmt(f['valid'])} | "
                         f"{fmt(f['test'])} | {f['wall']:.1f} |")
        else:
            lines.append(f"| {name} | {b} | fastText autotune | | | (not run) | | | |")
    lines += ["", "Brackets: tcdist's brackets.jsonl, the points of each bracket's rung 0 (one bracket with "
              "--trials). Trials finished: tcdist, the records of trials.jsonl (per rung, rung 0 first; trials "
              "cut by the budget are not among them); fastText, the last `Trials:` count of its `-verbose 2` "
              "progress line.", "",
              "| corpus | budget s | tcdist test | fastText test | tcdist >= fastText |", "|---|---|---|---|---|"]
    for (name, b), (n, t, f) in results.items():
        verdict = ("yes" if t["test"] >= f["test"] else "no") if f else "(not run)"
        lines.append(f"| {name} | {b} | {fmt(t['test'])} | {fmt(f['test']) if f else ''} | {verdict} |")
    lines += ["", "## Winners", ""]
    for (name, b), (n, t, f) in results.items():
        lines.append(f"- {name}, {b} s: tcdist `{t['best']}`")
        if f:
            lines.append(f"- {name}, {b} s: fastText `{f['best']}`")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budgets", "--budget", default="60,300", help="seconds of search for each tool, a comma list")
    ap.add_argument("--corpora", default=",".join(CORPORA), help="a comma list of " + ", ".join(CORPORA))
    ap.add_argument("--trials", type=int, default=None,
                    help="tcdist tune --trials N (default: none, tune sizes the search to the budget)")
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench-tune")
    ap.add_argument("--out", default=None, help="results file (default tests/bench/results/DATE-tune-fasttext.md)")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    names = args.corpora.split(",")
    for n in names:
        if n not in CORPORA:
            sys.exit(f"bench_tune.py: unknown corpus {n!r} (known: {', '.join(CORPORA)})")
    if not shutil.which("fasttext"):
        print("fasttext is not on PATH (bash launch/install-deps.sh --bench): nothing to compare")
        return
    present = []
    for n in names:
        missing = [p for p in CORPORA[n][0] if not os.path.exists(os.path.join(args.data, p))]
        if missing:
            print(f"{n}: {', '.join(os.path.join(args.data, p) for p in missing)} not found: skipping it "
                  "(see datasets/README.md)")
        else:
            present.append(n)
    if not present:
        print("no corpus found: nothing to compare")
        return
    os.makedirs(args.work, exist_ok=True)
    out = args.out or os.path.join(HERE, "results", f"{datetime.date.today().isoformat()}-tune-fasttext-budget.md")
    info, paths = {}, {}
    for n in present:
        paths[n], info[n] = prepare(args, n)
        print(f"{n}: {info[n]}", flush=True)
    results = {}
    for b in budgets:
        for n in present:
            trials = args.trials
            work = os.path.join(args.work, n)
            print(f"{n}, {b} s: tcdist tune --budget {b}" + (f" --trials {trials}" if trials else "") + " ...",
                  flush=True)
            t = bench_tcdist(args, paths[n], work, b, trials)
            results[(n, b)] = (trials, t, None)
            open(out, "w").write(report(args, info, results))
            print(f"{n}, {b} s: fastText autotune ...", flush=True)
            f = bench_fasttext(args, paths[n], work, b)
            results[(n, b)] = (trials, t, f)
            open(out, "w").write(report(args, info, results))
    print(report(args, info, results))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
