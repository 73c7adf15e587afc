#!/usr/bin/env python3
"""A/B of builds on the data-parallel case of bench_dist.py, with per-rank phases:

    WORK=/tmp/tcdist-bench python3 tests/bench/bench_dist_ab.py N BUILD_A [BUILD_B ...]

N interleaved rounds (the order reversed every other round) of `tcdist train --threads 2` (BUILD_A)
and `mpirun -np 2 --bind-to core tcdist train --threads 1` (every build), on WORK/imdb/imdb-train.h5
(bench_train.py prepares it), --no-checkpoint; EXTRA adds train flags. Prints each round's
tokens/s and the 1-minute load average, then per build the median tokens/s, the last run's
params_sha256 prefix, each rank's median ms per step in each phase (summed over metrics.jsonl's
"ranks" records), and the median of the per-round ratios 2x1 / 1x2."""
import json, os, subprocess, sys, statistics, time
N = int(sys.argv[1]); bins = sys.argv[2:]
W = os.environ.get("WORK", "/tmp/tcdist-bench"); data = f"{W}/imdb/imdb-train.h5"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
extra = os.environ.get("EXTRA", "").split()
def run(b, ranks, threads):
    rd = f"{W}/run-{ranks}x{threads}"
    cmd = [b, "train", "--data", data, "--run-dir", rd, "--threads", str(threads), "--quiet", "--overwrite", "--no-checkpoint", *extra]
    if ranks > 1: cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core", *cmd]
    subprocess.run(cmd, check=True, env=ENV, capture_output=True)
    s = json.load(open(f"{rd}/summary.json"))
    ph = {}
    for l in open(f"{rd}/metrics.jsonl"):
        r = json.loads(l)
        if r.get("type") != "ranks": continue
        for x in r["ranks"]:
            d = ph.setdefault(x["rank"], {})
            for k in ("data_s", "forward_s", "backward_s", "comm_s", "optim_s"): d[k] = d.get(k, 0) + x[k]
    st = s["steps"]
    return s["tokens_per_s"], {r: {k[:-2]: 1e3 * v / st for k, v in d.items()} for r, d in ph.items()}, s["params_sha256"][:12]
res = {}
for i in range(N):
    order = [("1x2", bins[0], 1, 2)] + [(f"2x1[{j}]", b, 2, 1) for j, b in enumerate(bins)]
    if i % 2: order.reverse()
    for name, b, r, t in order:
        res.setdefault(name, []).append(run(b, r, t))
    line = " ".join(f"{n}={res[n][-1][0]/1e6:.1f}M" for n in res) + " load " + open("/proc/loadavg").read().split()[0]
    print(f"pair {i}: {line} ratios " + " ".join(f"{res[n][-1][0]/res['1x2'][-1][0]:.2f}" for n in res if n != "1x2"), flush=True)
for n, rs in res.items():
    print(n, "median tps %.1fM" % (statistics.median(r[0] for r in rs) / 1e6), "sha", rs[-1][2])
    for rank in sorted(rs[0][1]):
        print("  rank", rank, " ".join(f"{k} {statistics.median(r[1][rank][k] for r in rs):.3f}" for k in rs[0][1][rank]), "ms/step")
for n in res:
    if n != "1x2": print(n, "median pair ratio %.3f" % statistics.median(a[0] / b[0] for a, b in zip(res[n], res["1x2"])))
