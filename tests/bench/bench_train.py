#!/usr/bin/env python3
"""Training benchmark: tcdist against fastText (Debian's `fasttext`) on the same text, in one run,
interleaved, several repetitions; reports medians and ratios and writes them to a dated Markdown
file in tests/bench/results/.

    python3 tests/bench/bench_train.py [--reps 5] [--tcdist build/tcdist] [--data ../shared/data]

Cases (2 threads each, dim 16, 5 epochs, as in the issue's targets):
  imdb      IMDB train 25k -> test 25k, unigrams; tcdist: hidden 16 and its defaults
  imdb-bi   the same with bigrams (tcdist: --ngrams 2, 200k buckets; fastText: -wordNgrams 2)
  sst2      GLUE SST-2 train 67,349 -> dev 872
fastText: `fasttext supervised -dim 16 -epoch 5 -lr 0.5 -thread 2 [-wordNgrams 2]`.

Same text: both read the converted corpus (datasets/imdb.py; SST-2 as shipped). fastText splits on
whitespace only, so its input gets what tcdist's tokenizer does to the text: lowercased, ASCII
punctuation split off as tokens. fastText reads its file in order (Hogwild SGD, no shuffle), and the
converted IMDB train is sorted by label, so its training lines are shuffled once (seed 0); tcdist
shuffles per epoch itself.

tcdist runs with --no-checkpoint, as fastText writes none; the default epoch-end checkpoints are
timed separately (IMDB, one extra run per repetition: `ckpt_wall`).

Timed: the whole `tcdist train` process (start-up, loading the HDF5 corpus, training, writing the
model) against the whole `fasttext supervised` process (reading and tokenizing text, training,
writing the model). `tcdist prepare` is a one-off per corpus and is reported separately (MB/s).
Peak RSS comes from /usr/bin/time of each run. Not a CTest test: run it by hand; these machines are noisy,
so it reports medians."""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TMP = "/tmp"
PUNCT = re.compile(r'([!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~])')


def run(cmd, env=None):
    """Runs cmd under /usr/bin/time, returns (wall seconds, peak RSS MiB, stdout). (wait4's rusage of
    a child of this process would include this process's own high-water mark, inherited at fork.)"""
    tfile = os.path.join(TMP, "time.txt")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile, *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    rss_kb = int(open(tfile).read().split()[-1])
    return wall, rss_kb / 1024.0, p.stdout


def ft_line(text, label):
    words = " ".join(PUNCT.sub(r" \1 ", text.lower()).split())
    return f"__label__{label} {words}\n"


def prepare_inputs(args, work):
    """Converted text for both tools, and tcdist's corpora. Returns {case: dict(paths)}."""
    tc = args.tcdist
    cases = {}
    imdb_tar = os.path.join(args.data, "imdb", "aclImdb_v1_nofeat.tar.gz")
    sst = os.path.join(args.data, "sst2")
    if os.path.exists(imdb_tar):
        d = os.path.join(work, "imdb")
        if not os.path.exists(os.path.join(d, "test.jsonl")):
            subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"), imdb_tar, d], check=True,
                           stdout=subprocess.DEVNULL)
        rows = {s: [json.loads(l) for l in open(os.path.join(d, f"{s}.jsonl"))] for s in ("train", "test")}
        for s, rs in rows.items():
            lines = [ft_line(r["text"], r["label"]) for r in rs]
            if s == "train":
                random.Random(0).shuffle(lines)
            open(os.path.join(d, f"{s}.ft"), "w").writelines(lines)
        for tag, extra in (("imdb", []), ("imdb-bi", ["--ngrams", "2"])):
            tr, te = os.path.join(d, f"{tag}-train.h5"), os.path.join(d, f"{tag}-test.h5")
            subprocess.run([tc, "prepare", *extra, "-o", tr, os.path.join(d, "train.jsonl")], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([tc, "prepare", "--vocab", tr, "-o", te, os.path.join(d, "test.jsonl")], check=True,
                           stdout=subprocess.DEVNULL)
            cases[tag] = dict(train=tr, test=te, ft_train=os.path.join(d, "train.ft"),
                              ft_test=os.path.join(d, "test.ft"), ngrams=2 if extra else 1,
                              raw=os.path.join(d, "train.jsonl"), fmt="jsonl")
    else:
        print(f"IMDB not found at {imdb_tar}: skipping the IMDB cases")
    if os.path.exists(os.path.join(sst, "train.tsv")):
        d = os.path.join(work, "sst2")
        os.makedirs(d, exist_ok=True)
        for s in ("train", "dev"):
            lines = open(os.path.join(sst, f"{s}.tsv"), encoding="utf-8").read().splitlines()[1:]
            out = [ft_line(*l.rsplit("\t", 1)) for l in lines]
            if s == "train":
                random.Random(0).shuffle(out)
            open(os.path.join(d, f"{s}.ft"), "w").writelines(out)
        tr, te = os.path.join(d, "train.h5"), os.path.join(d, "dev.h5")
        subprocess.run([tc, "prepare", "--text-field", "sentence", "-o", tr, os.path.join(sst, "train.tsv")],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([tc, "prepare", "--text-field", "sentence", "--vocab", tr, "-o", te,
                        os.path.join(sst, "dev.tsv")], check=True, stdout=subprocess.DEVNULL)
        cases["sst2"] = dict(train=tr, test=te, ft_train=os.path.join(d, "train.ft"), ft_test=os.path.join(d, "dev.ft"),
                             ngrams=1, raw=os.path.join(sst, "train.tsv"), fmt="tsv")
    else:
        print(f"SST-2 not found in {sst}: skipping it")
    return cases


def bench_tcdist(args, case, work, seed):
    rd = os.path.join(work, "run")
    wall, rss, _ = run([args.tcdist, "train", "--data", case["train"], "--run-dir", rd, "--threads", "2",
                        "--dim", "16", "--hidden", "16", "--epochs", "5", "--quiet", "--overwrite", "--seed", str(seed),
                        "--no-checkpoint"])
    s = json.load(open(os.path.join(rd, "summary.json")))
    _, _, out = run([args.tcdist, "eval", "--model", rd, "--data", case["test"], "--json"])
    return dict(wall=wall, rss=rss, acc=json.loads(out)["accuracy"], tokens=s["tokens"], loop_tps=s["tokens_per_s"])


def have_torch():
    return subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0


def bench_torch(args, case, work, seed):
    """The same model in PyTorch (tests/bench/peer_torch.py), same token ids, 2 threads."""
    wall, rss, out = run([sys.executable, os.path.join(HERE, "peer_torch.py"), case["train"], case["test"],
                          "--threads", "2", "--seed", str(seed)])
    r = json.loads(out.strip().splitlines()[-1])
    return dict(wall=wall, rss=rss, acc=r["accuracy"], loop_tps=r["tokens_per_s"])


def bench_fasttext(args, case, work, seed):
    model = os.path.join(work, "ft")
    cmd = ["fasttext", "supervised", "-input", case["ft_train"], "-output", model, "-dim", "16", "-epoch", "5",
           "-lr", "0.5", "-thread", "2", "-verbose", "0", "-seed", str(seed)]
    if case["ngrams"] > 1:
        cmd += ["-wordNgrams", str(case["ngrams"])]
    wall, rss, _ = run(cmd)
    _, _, out = run(["fasttext", "test", model + ".bin", case["ft_test"]])
    acc = float(re.search(r"P@1\s+([0-9.]+)", out).group(1))
    return dict(wall=wall, rss=rss, acc=acc)


def bench_prepare(args, case, work, reps):
    out = os.path.join(work, "prep.h5")
    extra = ["--ngrams", "2"] if case["ngrams"] > 1 else []
    if case["fmt"] == "tsv":
        extra += ["--text-field", "sentence"]
    n_bytes = os.path.getsize(case["raw"])
    walls, rsss = [], []
    for _ in range(reps):
        w, r, _ = run([args.tcdist, "prepare", "--threads", "2", *extra, "-o", out, case["raw"]])
        walls.append(w)
        rsss.append(r)
    return dict(mbps=n_bytes / 1e6 / statistics.median(walls), rss=statistics.median(rsss), mb=n_bytes / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-train.md"))
    args = ap.parse_args()
    if not shutil.which("fasttext"):
        sys.exit("fasttext not found: bash launch/install-deps.sh --bench")
    os.makedirs(args.work, exist_ok=True)
    global TMP
    TMP = args.work
    if not os.path.exists("/usr/bin/time"):
        sys.exit("/usr/bin/time not found: bash launch/install-deps.sh --bench")
    cases = prepare_inputs(args, args.work)
    if not cases:
        sys.exit(f"no corpora found under {args.data}")
    res = {c: {"tcdist": [], "fasttext": []} for c in cases}
    torch_ok = "imdb" in cases and have_torch()
    if not torch_ok:
        print("PyTorch peer skipped: python3 cannot import torch (Debian: python3-torch)")
    torch_runs = []
    ckpt_walls = []
    for r in range(args.reps):
        for c, case in cases.items():
            order = [("tcdist", bench_tcdist), ("fasttext", bench_fasttext)]
            if r % 2:
                order.reverse()  # interleave, alternating who goes first
            for tool, fn in order:
                res[c][tool].append(fn(args, case, args.work, r + 1))
            if c == "imdb" and torch_ok:
                torch_runs.append(bench_torch(args, case, args.work, r + 1))
            if c == "imdb":
                w, _, _ = run([args.tcdist, "train", "--data", case["train"], "--run-dir",
                               os.path.join(args.work, "run-ckpt"), "--threads", "2", "--quiet", "--overwrite",
                               "--seed", str(r + 1)])
                ckpt_walls.append(w)
        print(f"rep {r + 1}/{args.reps} done", flush=True)
    prep = {c: bench_prepare(args, case, args.work, min(args.reps, 3)) for c, case in cases.items()}

    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    cpu = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    lines = [f"# Training benchmark, {datetime.date.today()}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}. "
             f"{args.reps} repetitions, interleaved; medians. tcdist `{subprocess.run([args.tcdist, '--version'], capture_output=True, text=True).stdout.strip()}`, "
             f"fastText `{subprocess.run(['dpkg-query', '-W', '-f', '${Version}', 'fasttext'], capture_output=True, text=True).stdout}` (Debian).",
             "Both on 2 threads, dim 16, 5 epochs; tcdist hidden 16 with its default batch/lr/schedule; fastText lr 0.5.",
             "Repetition r uses seed r for both tools (accuracy medians are over seeds 1..reps).",
             "Command: `python3 tests/bench/bench_train.py`. Wall = the whole training process.", "",
             "| case | tcdist wall s | fastText wall s | wall ratio (tcdist/fastText) | tcdist tokens/s | tcdist acc | fastText acc | tcdist RSS MiB | fastText RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in cases:
        t, f = res[c]["tcdist"], res[c]["fasttext"]
        tw, fw = med(t, "wall"), med(f, "wall")
        lines.append(f"| {c} | {tw:.3f} | {fw:.3f} | {tw / fw:.3f} | {med(t, 'tokens') / tw / 1e6:.1f}M | "
                     f"{med(t, 'acc'):.4f} | {med(f, 'acc'):.4f} | {med(t, 'rss'):.0f} | {med(f, 'rss'):.0f} |")
    if torch_runs:
        tl, pl = med(res["imdb"]["tcdist"], "loop_tps"), med(torch_runs, "loop_tps")
        lines += ["", f"PyTorch {subprocess.run([sys.executable, '-c', 'import torch; print(torch.__version__)'], capture_output=True, text=True).stdout.strip()} "
                      f"(same model and token ids, 2 threads, `tests/bench/peer_torch.py`), IMDB: training loop "
                      f"{pl / 1e6:.2f}M tokens/s, accuracy {med(torch_runs, 'acc'):.4f}, peak RSS {med(torch_runs, 'rss'):.0f} MiB, "
                      f"process wall {med(torch_runs, 'wall'):.2f} s. tcdist's training loop: {tl / 1e6:.1f}M tokens/s = "
                      f"**{tl / pl:.1f}x** PyTorch (target >= 10x)."]
    if ckpt_walls:
        fw = med(res["imdb"]["fasttext"], "wall")
        lines += ["", f"IMDB with tcdist's default checkpoints (one per epoch, fsynced): "
                      f"{statistics.median(ckpt_walls):.3f} s, {statistics.median(ckpt_walls) / fw:.3f}x fastText."]
    lines += ["", "tokens/s = training tokens of all epochs / whole-process wall time.", "",
              "| corpus | raw MB | tcdist prepare MB/s (2 threads) | prepare peak RSS MiB |", "|---|---|---|---|"]
    for c, p in prep.items():
        lines.append(f"| {c} | {p['mb']:.1f} | {p['mbps']:.1f} | {p['rss']:.0f} |")
    lines += ["", "Raw runs (wall s, accuracy):", ""]
    for c in cases:
        for tool in ("tcdist", "fasttext"):
            lines.append(f"- {c} {tool}: " + ", ".join(f"{x['wall']:.3f}/{x['acc']:.4f}" for x in res[c][tool]))
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
