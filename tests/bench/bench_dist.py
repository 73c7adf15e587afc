#!/usr/bin/env python3
"""Data-parallel benchmark on IMDB (run bench_train.py first: it converts and prepares the corpus in
--work). Interleaved repetitions, medians, written to tests/bench/results/DATE-dist.md.

1. Scaling on 2 cores: `mpirun -np 2 tcdist train --threads 1` against `tcdist train --threads 2`
   (single-node mode), tokens/s of the training loop (summary.json) and whole-process wall time.
   Target: 2 ranks x 1 thread >= 0.9x the tokens/s of 1 rank x 2 threads. Measured with dense Adam
   and the default exchange on one node (shared: one copy of the model per node, each rank sums and
   updates its slice), with --exchange sparse (every rank repeats the optimizer's sweep over the whole
   table), and with --lazy-adam (which uses the sparse exchange).
2. Bytes per step of the gradient exchange (2 ranks), sparse and dense, for two embedding-table
   sizes over the same text: unigrams (88k rows) and unigrams + 200k bigram buckets (288k rows).
   Sparse bytes should follow the tokens per batch, dense bytes the table.
3. Several nodes, simulated on this machine (TCDIST_NODE_SIZE=1: 2 pretend nodes x 1 rank): the
   hierarchical exchange against the sparse one, per-step optimizer time and MPI bytes per step
   between nodes, interleaved, medians.
Before each repetition, the one-way cache-line latency between the first two CPUs (bench_cores, where
built): the figure that moved the pair ratios on a virtual machine whose host moved its CPUs."""
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


def train(args, data, rd, ranks, threads, extra=(), node_size=None):
    cmd = [args.tcdist, "train", "--data", data, "--run-dir", rd, "--threads", str(threads), "--quiet",
           "--overwrite", "--no-checkpoint", *extra]
    if ranks > 1:
        pretend = ["-x", f"TCDIST_NODE_SIZE={node_size}"] if node_size else []
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core", *pretend, *cmd]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    s = json.load(open(os.path.join(rd, "summary.json")))
    return dict(wall=wall, tps=s["tokens_per_s"], bytes=s["comm_bytes_per_step"], acc=s.get("valid_accuracy"),
                optim_ms=1e3 * s["phase_seconds"]["optim"] / s["steps"], comm_ms=1e3 * s["phase_seconds"]["comm"] / s["steps"])


def core_latency(args):
    """One-way cache-line latency between the first two CPUs in ns (build/tests/bench/bench_cores), or
    None where it is not built. Under a hypervisor it can change within a run, when the host moves the
    virtual CPUs (2026-12-07: 55 ns or 235 ns on the same VM), and the pairs' ratios with it."""
    exe = os.path.join(os.path.dirname(args.tcdist), "tests", "bench", "bench_cores")
    if not os.path.exists(exe):
        return None
    p = subprocess.run([exe], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if "one way" in line:
            return float(line.split()[-2])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--work", default="/tmp/tcdist-bench")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-dist.md"))
    args = ap.parse_args()
    uni = os.path.join(args.work, "imdb", "imdb-train.h5")
    bi = os.path.join(args.work, "imdb", "imdb-bi-train.h5")
    if not os.path.exists(uni) or not os.path.exists(bi):
        sys.exit(f"{uni} not found: run tests/bench/bench_train.py first (it prepares IMDB)")
    rd = os.path.join(args.work, "dist-run")
    flags = {"1x2": [], "2x1": [], "2x1 sparse": ["--exchange", "sparse"], "1x2 lazy": ["--lazy-adam"],
             "2x1 lazy": ["--lazy-adam"]}
    runs = {k: [] for k in flags}
    lat = []
    for r in range(args.reps):
        lat.append(core_latency(args))
        order = list(flags)
        if r % 2:
            order.reverse()
        for name in order:
            ranks, threads = (1, 2) if name.startswith("1x2") else (2, 1)
            runs[name].append(train(args, uni, rd, ranks, threads, flags[name]))
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    nodes = {"sparse": [], "hier": []}
    for r in range(args.reps):
        for name in (("sparse", "hier") if r % 2 == 0 else ("hier", "sparse")):
            nodes[name].append(train(args, uni, rd, 2, 1, ["--exchange", name], node_size=1))
    rows = []
    for label, data in (("unigrams (88k rows)", uni), ("+ bigrams (288k rows)", bi)):
        sp = train(args, data, rd, 2, 1, ["--exchange", "sparse", "--epochs", "1"])
        de = train(args, data, rd, 2, 1, ["--exchange", "dense", "--epochs", "1"])
        sh = train(args, data, rd, 2, 1, ["--exchange", "shared", "--epochs", "1"])
        rows.append((label, sp["bytes"], de["bytes"], sh["bytes"]))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [f"# Data-parallel benchmark, {datetime.date.today()}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores. IMDB train (25k reviews), tcdist defaults, 5 epochs; "
             f"{args.reps} interleaved repetitions, medians; --no-checkpoint, so that only training is timed. "
             "Command: `python3 tests/bench/bench_dist.py`.", "",
             "| optimizer | 1 rank x 2 threads: tokens/s, wall s | 2 ranks x 1 thread: tokens/s, wall s | ratio 2x1 / 1x2 (target >= 0.9) |",
             "|---|---|---|---|"]
    for label, a, b in (("dense Adam, default exchange (shared on one node)", "1x2", "2x1"),
                        ("dense Adam, --exchange sparse", "1x2", "2x1 sparse"),
                        ("--lazy-adam (sparse exchange)", "1x2 lazy", "2x1 lazy")):
        ta, tb = med(runs[a], "tps"), med(runs[b], "tps")
        lines.append(f"| {label} | {ta / 1e6:.1f}M, {med(runs[a], 'wall'):.3f} | {tb / 1e6:.1f}M, "
                     f"{med(runs[b], 'wall'):.3f} | **{tb / ta:.2f}** |")
    lines += ["", "2 ranks: `mpirun -np 2 --bind-to core tcdist train --threads 1`. The final parameters of the "
              "shared and sparse runs agree to about 1e-6 (a bag model's owners add the same sums in another order; "
              "`TCDIST_SHARED_PATH=ranks` gives the sparse run's bits).", "",
              "| embedding table | sparse exchange MPI bytes/step | dense allreduce MPI bytes/step | "
              "shared: MPI bytes/step (gradients are summed in shared memory) |", "|---|---|---|---|"]
    for label, sp, de, sh in rows:
        lines.append(f"| {label} | {sp:,.0f} | {de:,.0f} | {sh:,.0f} |")
    lines += ["", "Simulated 2 nodes x 1 rank (`TCDIST_NODE_SIZE=1 mpirun -np 2 ... --threads 1`), medians of "
              f"{args.reps} interleaved runs:", "",
              "| exchange | tokens/s | optimizer ms/step | waiting in the exchange ms/step | MPI bytes/step between nodes (per rank) |",
              "|---|---|---|---|---|"]
    for name, xs in nodes.items():
        lines.append(f"| {name} | {med(xs, 'tps') / 1e6:.1f}M | {med(xs, 'optim_ms'):.3f} | {med(xs, 'comm_ms'):.3f} | "
                     f"{med(xs, 'bytes'):,.0f} |")
    pairs = [b["tps"] / a["tps"] for a, b in zip(runs["1x2"], runs["2x1"])]
    lines += ["", "Raw pairs, default exchange (2x1 / 1x2 tokens/s, in run order): " +
              ", ".join(f"{b['tps'] / 1e6:.1f}M / {a['tps'] / 1e6:.1f}M = {r:.2f}"
                        for a, b, r in zip(runs["1x2"], runs["2x1"], pairs)),
              f"Median of the pair ratios: {statistics.median(pairs):.2f}. Optimizer phase per step (medians): "
              f"1x2 {med(runs['1x2'], 'optim_ms'):.3f} ms, 2x1 {med(runs['2x1'], 'optim_ms'):.3f} ms; waiting in "
              f"the exchange (2x1): {med(runs['2x1'], 'comm_ms'):.3f} ms.", ""]
    if all(x is not None for x in lat):
        lines += ["One-way cache-line latency between the first two CPUs before each pair (`bench_cores`), ns: " +
                  ", ".join(f"{x:.0f}" for x in lat) + ".", ""]
        if max(lat) > 2 * min(lat):  # the host moved the virtual CPUs during the run: the pairs by distance
            cut = (max(lat) + min(lat)) / 2
            for name, near in (("near", True), ("far", False)):
                ps = [r for r, x in zip(pairs, lat) if (x < cut) == near]
                lines += [f"Pairs with the CPUs {name} ({len(ps)}): median of the pair ratios "
                          f"{statistics.median(ps):.2f}."]
            lines += [""]
    lines += ["Raw tokens/s: " + "; ".join(f"{k}: " + ", ".join(f"{x['tps'] / 1e6:.1f}M" for x in v)
                                           for k, v in runs.items())]
    text = "\n".join(lines) + "\n"
    open(args.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
