#!/usr/bin/env python3
"""Hyperparameter search at the same time budget: `tcdist tune` against `fasttext supervised
-autotune-validation` on SST-2 (GLUE, ../shared/data/sst2). Both search on the same 90% of SST-2's
train set and rank by accuracy on the same held-out 10% (a fixed shuffle); the winner of each is
then scored on SST-2's dev set (872 sentences, unseen by both). Reports how many trials each ran
in the budget, the test accuracy and the wall time, and writes a dated Markdown file to
tests/bench/results/.

    python3 tests/bench/bench_tune.py [--budget 120] [--tcdist build/tcdist] [--data ../shared/data]

tcdist: `tune --valid VALID.h5 --budget B --trials N --threads 2` with the default space and
schedule (docs/tuning.md; N, 40 by default, so that the three rungs fit a 60 s budget here: with
many more points the budget ends inside rung 0 and nothing is promoted); fastText: `-autotune-validation VALID -autotune-duration B -thread 2`
(its own search space: lr, dim, wordNgrams, epoch, ...). Not a CTest test: run it by hand on an
otherwise idle machine. Without the SST-2 files it says so and exits 0."""
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


def prepare(args, work):
    sst = os.path.join(args.data, "sst2")
    rows = open(os.path.join(sst, "train.tsv"), encoding="utf-8").read().splitlines()
    header, rows = rows[0], rows[1:]
    random.Random(0).shuffle(rows)
    n_valid = len(rows) // 10
    parts = {"valid": rows[:n_valid], "train": rows[n_valid:],
             "test": open(os.path.join(sst, "dev.tsv"), encoding="utf-8").read().splitlines()[1:]}
    paths = {}
    for name, rs in parts.items():
        tsv, ft = os.path.join(work, f"{name}.tsv"), os.path.join(work, f"{name}.ft")
        open(tsv, "w", encoding="utf-8").write(header + "\n" + "\n".join(rs) + "\n")
        open(ft, "w", encoding="utf-8").writelines(ft_line(*r.rsplit("\t", 1)) for r in rs)
        paths[name] = dict(tsv=tsv, ft=ft, h5=os.path.join(work, f"{name}.h5"))
    tc = args.tcdist
    run([tc, "prepare", "--text-field", "sentence", "-o", paths["train"]["h5"], paths["train"]["tsv"]])
    for name in ("valid", "test"):
        run([tc, "prepare", "--text-field", "sentence", "--vocab", paths["train"]["h5"], "-o", paths[name]["h5"],
             paths[name]["tsv"]])
    return paths, {k: len(v) for k, v in parts.items()}


def bench_tcdist(args, paths, work):
    rd = os.path.join(work, "tune")
    shutil.rmtree(rd, ignore_errors=True)
    wall, out, _ = run([args.tcdist, "tune", "--data", paths["train"]["h5"], "--valid", paths["valid"]["h5"],
                        "--run-dir", rd, "--budget", str(args.budget), "--trials", str(args.trials), "--threads", "2",
                        "--quiet"])
    recs = [json.loads(l) for l in open(os.path.join(rd, "trials.jsonl"))]
    _, ev, _ = run([args.tcdist, "eval", "--model", os.path.join(rd, "best"), "--data", paths["test"]["h5"], "--json"])
    best = re.search(r"^best: (\S+) \(accuracy ([0-9.]+)\)", out, re.M)
    cfg = next(r["config"] for r in recs if r["id"] == best.group(1))
    rungs = sorted({r["rung"] for r in recs})
    return dict(wall=wall, trials=f"{len(recs)} (rungs {', '.join(map(str, rungs))})", valid=float(best.group(2)), test=json.loads(ev)["accuracy"],
                best=json.dumps(cfg))


def bench_fasttext(args, paths, work):
    model = os.path.join(work, "ft")
    wall, out, err = run(["fasttext", "supervised", "-input", paths["train"]["ft"], "-output", model,
                          "-autotune-validation", paths["valid"]["ft"], "-autotune-duration", str(args.budget),
                          "-thread", "2", "-verbose", "2"])
    text = out + err
    trials = re.findall(r"Trials:\s*(\d+)", text)
    valid = re.findall(r"Best score:\s*([0-9.]+)", text)
    _, test, _ = run(["fasttext", "test", model + ".bin", paths["test"]["ft"]])
    _, dump, _ = run(["fasttext", "dump", model + ".bin", "args"])
    return dict(wall=wall, trials=int(trials[-1]) if trials else None, valid=float(valid[-1]) if valid else None,
                test=float(re.search(r"P@1\s+([0-9.]+)", test).group(1)), best=" ".join(dump.split()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=120, help="seconds of search for each tool")
    ap.add_argument("--trials", type=int, default=40, help="tcdist tune --trials")
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench-tune")
    ap.add_argument("--out", default=None, help="results file (default tests/bench/results/DATE-tune.md)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.data, "sst2", "train.tsv")):
        print(f"SST-2 not found in {os.path.join(args.data, 'sst2')}: nothing to compare (see datasets/README.md)")
        return
    if not shutil.which("fasttext"):
        print("fasttext is not on PATH (bash launch/install-deps.sh --bench): nothing to compare")
        return
    os.makedirs(args.work, exist_ok=True)
    env_note = "OMP_NUM_THREADS=%s" % os.environ.get("OMP_NUM_THREADS", "unset")
    paths, sizes = prepare(args, args.work)
    t = bench_tcdist(args, paths, args.work)
    f = bench_fasttext(args, paths, args.work)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    date = datetime.date.today().isoformat()
    lines = [
        f"# tcdist tune against fastText autotune on SST-2, {date}",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {env_note}.",
        f"Search data: SST-2 train split 90/10 by a fixed shuffle ({sizes['train']} / {sizes['valid']} sentences); "
        f"test: SST-2 dev ({sizes['test']}). Budget {args.budget} s each, 2 threads each, one after the other; "
        f"tcdist tune --trials {args.trials}. fastText's wall time includes its final training on the best "
        "arguments after the search.",
        "",
        "| tool | trials finished | best valid accuracy | test accuracy | wall s |",
        "|---|---|---|---|---|",
        f"| tcdist tune | {t['trials']} | {t['valid']:.4f} | {t['test']:.4f} | {t['wall']:.1f} |",
        f"| fasttext -autotune | {f['trials']} | {f['valid'] if f['valid'] is not None else '?'} | {f['test']:.4f} | "
        f"{f['wall']:.1f} |",
        "",
        f"tcdist's best trial: `{t['best']}`",
        "",
        f"fastText's best args: `{f['best']}`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = args.out or os.path.join(HERE, "results", f"{date}-tune.md")
    open(out, "w").write(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
