#!/usr/bin/env python3
"""The per-step cost model of docs/distributed.md ("Cost model"), as numbers: time and bytes of
the sparse and hier exchanges and of dense Adam's sweep, for N nodes of R ranks x t threads, on a
network of B Gb/s per node with latency ALPHA per message.

Nothing here is measured: the constants A_SWEEP (dense Adam's sweep, seconds per parameter per core)
and the compute per token come from tests/bench/results/2026-12-05-dist.md on a 2-core AMD EPYC;
the network figures are assumptions (the defaults: 100 Gb/s, 2 us). Print the table with
`python3 tests/bench/cost_model.py`; change the assumptions with the flags."""
import argparse
import math

A_SWEEP = 0.49e-9      # s per parameter per core: 1 rank x 2 threads, 0.344 ms per step for 1.41M parameters
T_TOKEN = 1.54e-9      # s per token and embedding dimension per core, forward + backward (bow): 0.63 ms for
                       # 51k tokens of dim 16 on 2 cores


def allreduce(m, p, beta, alpha):
    """Seconds for an allreduce of m bytes over p participants: ring bandwidth term, log latency term."""
    if p <= 1 or m == 0:
        return 0.0
    return 2 * (p - 1) / p * m / beta + 2 * math.log2(p) * alpha


def allgather(m_each, p, beta, alpha):
    if p <= 1:
        return 0.0
    return (p - 1) * m_each / beta + math.log2(p) * alpha


def step(kind, N, R, t, V, D, Pd, u_node, tok_node, beta, alpha, e=4):
    """Seconds and bytes per step (bytes sent by one node) for the exchange `kind`."""
    P = V * D + Pd
    U = min(V, N * u_node)           # rows used somewhere in the job this step (upper bound: no overlap)
    m = e * (U * D + Pd)             # the union rows and the dense tensors
    compute = tok_node * D * T_TOKEN / (R * t)
    if kind == "sparse":             # every rank: its own replica, the whole sweep, an allreduce over N*R ranks
        ids = allgather(4 * u_node / R, N * R, beta / R, alpha)
        net = ids + allreduce(m, N * R, beta / R, alpha)
        sweep = P * A_SWEEP / t
        node_bytes = R * (2 * (N * R - 1) / (N * R) * m + 4 * u_node)
    elif kind == "hier":             # one copy per node; each rank its 1/R slice, allreduced over N
        ids = allgather(4 * u_node / R, N, beta / R, alpha)
        net = ids + allreduce(m / R, N, beta / R, alpha)
        sweep = P * A_SWEEP / (R * t)
        node_bytes = 2 * (N - 1) / N * m + 4 * u_node
    elif kind == "hier+lazy":        # what lazy Adam would cost on hier's network: the sweep only over U rows
        ids = allgather(4 * u_node / R, N, beta / R, alpha)
        net = ids + allreduce(m / R, N, beta / R, alpha)
        sweep = (U * D + Pd) * A_SWEEP / (R * t)
        node_bytes = 2 * (N - 1) / N * m + 4 * u_node
    else:
        raise ValueError(kind)
    return compute, sweep, net, node_bytes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gbps", type=float, default=100.0, help="network bandwidth per node, Gb/s")
    ap.add_argument("--alpha-us", type=float, default=2.0, help="latency per message, microseconds")
    ap.add_argument("--ranks-per-node", type=int, default=2)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()
    beta, alpha = args.gbps * 1e9 / 8, args.alpha_us * 1e-6
    R, t = args.ranks_per_node, args.threads
    models = [("IMDB-like: 88k rows x 16; 51k tokens, 10k rows per node and step", 88_000, 16, 300, 10_000, 51_000),
              ("large: 10M rows x 64; 51k tokens, 20k rows per node and step", 10_000_000, 64, 4_200, 20_000, 51_000),
              ("large, 16x the batch: 820k tokens, 200k rows per node and step", 10_000_000, 64, 4_200, 200_000,
               820_000)]
    print(f"Assumptions: {args.gbps:g} Gb/s and {args.alpha_us:g} us per node; {R} ranks x {t} threads per node; "
          "weak scaling (the batch per node is fixed); the union of rows is bounded by min(V, N x rows per node).\n")
    print("| model | nodes | compute ms | sparse: sweep + network ms | hier: sweep + network ms | "
          "hier + lazy Adam: sweep + network ms | MB sent per node, sparse / hier |")
    print("|---|---|---|---|---|---|---|")
    for name, V, D, Pd, u, tok in models:
        for N in (8, 64, 512):
            c, s1, n1, b1 = step("sparse", N, R, t, V, D, Pd, u, tok, beta, alpha)
            _, s2, n2, b2 = step("hier", N, R, t, V, D, Pd, u, tok, beta, alpha)
            _, s3, n3, _ = step("hier+lazy", N, R, t, V, D, Pd, u, tok, beta, alpha)
            print(f"| {name} | {N} | {c * 1e3:.3f} | {s1 * 1e3:.2f} + {n1 * 1e3:.2f} | {s2 * 1e3:.2f} + {n2 * 1e3:.2f} | "
                  f"{s3 * 1e3:.3f} + {n3 * 1e3:.2f} | {b1 / 1e6:.1f} / {b2 / 1e6:.1f} |")


if __name__ == "__main__":
    main()
