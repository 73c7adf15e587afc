#!/usr/bin/env python3
"""Two builds of tcdist side by side in one run: training speed on IMDB must not change when only
the structure of the code does. Cases: IMDB single node (1 rank x 2 threads), 2 ranks x 1 thread
(the default exchange: shared on one node), and IMDB with bigrams (single node). Repetitions are
interleaved (old, new, new, old, ...), medians are reported with the ratio new / old and every raw
value, and the final params_sha256 of each case must agree between the builds.

    python3 tests/bench/bench_versions.py --old OLD/tcdist --new build/tcdist [--reps 7]

It converts and prepares IMDB from --data into --work (the same corpus files for both builds:
corpus format 1 is read by every version). Results: tests/bench/results/DATE-versions.md."""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
           OPENBLAS_NUM_THREADS="1")


def prepare(tc, data, work):
    tar = os.path.join(data, "imdb", "aclImdb_v1_nofeat.tar.gz")
    if not os.path.exists(tar):
        print(f"skip: IMDB not found at {tar}")
        sys.exit(0)
    d = os.path.join(work, "imdb")
    if not os.path.exists(os.path.join(d, "train.jsonl")):
        subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"), tar, d], check=True,
                       stdout=subprocess.DEVNULL)
    out = {}
    for tag, extra in (("uni", []), ("bi", ["--ngrams", "2"])):
        p = os.path.join(d, f"versions-{tag}.h5")
        if not os.path.exists(p):
            subprocess.run([tc, "prepare", *extra, "-o", p, os.path.join(d, "train.jsonl")], check=True,
                           stdout=subprocess.DEVNULL)
        out[tag] = p
    return out


def train(tc, data, rd, ranks, threads):
    cmd = [tc, "train", "--data", data, "--run-dir", rd, "--threads", str(threads), "--quiet", "--overwrite",
           "--no-checkpoint"]
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core", *cmd]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    s = json.load(open(os.path.join(rd, "summary.json")))
    return dict(wall=wall, tps=s["tokens_per_s"], sha=s["params_sha256"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-versions.md"))
    args = ap.parse_args()
    corpora = prepare(args.old, args.data, args.work)
    cases = {"IMDB, 1 rank x 2 threads": (corpora["uni"], 1, 2), "IMDB, 2 ranks x 1 thread": (corpora["uni"], 2, 1),
             "IMDB + bigrams, 1 rank x 2 threads": (corpora["bi"], 1, 2)}
    runs = {(c, b): [] for c in cases for b in ("old", "new")}
    rd = os.path.join(args.work, "versions-run")
    for r in range(args.reps):
        for case, (data, ranks, threads) in cases.items():
            for b in (("old", "new") if r % 2 == 0 else ("new", "old")):
                runs[(case, b)].append(train(getattr(args, b), data, rd, ranks, threads))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [f"# Two builds side by side, {datetime.date.today()}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores. old: `{args.old}`, new: `{args.new}`. IMDB train (25k "
             f"reviews), tcdist defaults (bow dim 16 hidden 16, 5 epochs, batch 192), --no-checkpoint; {args.reps} "
             "interleaved repetitions, medians of the training loop's tokens/s (summary.json) and of the whole "
             "process's wall time. Command: `python3 tests/bench/bench_versions.py --old ... --new ...`.", "",
             "| case | old tokens/s | new tokens/s | new / old | old wall s | new wall s | params_sha256 equal |",
             "|---|---|---|---|---|---|---|"]
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    for case in cases:
        o, n = runs[(case, "old")], runs[(case, "new")]
        same = len({x["sha"] for x in o + n}) == 1
        lines.append(f"| {case} | {med(o, 'tps') / 1e6:.1f}M | {med(n, 'tps') / 1e6:.1f}M | "
                     f"**{med(n, 'tps') / med(o, 'tps'):.3f}** | {med(o, 'wall'):.3f} | {med(n, 'wall'):.3f} | "
                     f"{'yes' if same else 'NO'} |")
    lines += ["", "Raw tokens/s (millions):"]
    for (case, b), xs in runs.items():
        lines.append(f"- {case}, {b}: " + ", ".join(f"{x['tps'] / 1e6:.2f}" for x in xs))
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
