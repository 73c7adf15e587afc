#!/usr/bin/env python3
"""Transformer benchmark: tcdist `--model transformer` against the same architecture in PyTorch CPU
(tests/bench/peer_torch_transformer.py), in one run, interleaved; training documents per second and
peak RSS of both, medians. Writes a dated Markdown file in tests/bench/results/.

    python3 tests/bench/bench_transformer.py [--reps 3] [--steps 100] [--batch 256] [--threads 2]
    python3 tests/bench/bench_transformer.py --prepare-only      # prepare the corpus, untimed

Model (both): tcdist's defaults: token + position embeddings (dim 64, --max-len 256), 2 pre-LayerNorm
blocks of 4-head self-attention and an exact-GELU feed-forward layer of width 128, dropout 0.1 on
the residual branches, final LayerNorm, mean over positions, one sigmoid output; Adam (eps 1e-7), lr
0.001 decaying linearly to 0. Same data and token ids (the peer reads tcdist's prepared HDF5 with
h5py), same batch, the same threads (tcdist --threads N; torch.set_num_threads(N)), --steps steps of
one epoch's shuffled order (each tool its own shuffle). Case: GLUE SST-2 train (67,349 sentences)
-> dev 872, the pair interleaved --reps times; skipped with a message when absent.

docs/s: training documents / the training loop's seconds (tcdist: summary.json's samples_per_s,
which excludes start-up, loading and writing the model; the peer: its own loop, which excludes
importing torch and reading the corpus). Process wall and peak RSS (/usr/bin/time) of each whole
process are reported too. Not a CTest test: run it by hand on an idle machine."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1")
LR = "0.001"


def run(cmd, work, env=ENV):
    """cmd under /usr/bin/time: (wall seconds, peak RSS MiB, stdout). For mpirun, the RSS is the largest
    of the processes that time sees (mpirun's children are not its children: see the notes)."""
    tfile = os.path.join(work, "time.txt")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile, *cmd], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return wall, int(open(tfile).read().split()[-1]) / 1024.0, p.stdout


def prepare(args):
    """tcdist's SST-2 corpus: {"sst2": (train.h5, dev.h5)}, or {} when absent."""
    tc, sst = args.tcdist, os.path.join(args.data, "sst2")
    if not os.path.exists(os.path.join(sst, "train.tsv")):
        print(f"SST-2 not found in {sst}: skipping it")
        return {}
    d = os.path.join(args.work, "sst2")
    os.makedirs(d, exist_ok=True)
    tr, te = os.path.join(d, "train.h5"), os.path.join(d, "dev.h5")
    if not os.path.exists(te):
        subprocess.run([tc, "prepare", "--text-field", "sentence", "-o", tr, os.path.join(sst, "train.tsv")],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([tc, "prepare", "--text-field", "sentence", "--vocab", tr, "-o", te,
                        os.path.join(sst, "dev.tsv")], check=True, stdout=subprocess.DEVNULL)
    return {"sst2": (tr, te)}


def bench_tcdist(args, case, seed):
    rd = os.path.join(args.work, "run-transformer")
    cmd = [args.tcdist, "train", "--data", case[0], "--run-dir", rd, "--model", "transformer", "--threads",
           str(args.threads), "--batch", str(args.batch), "--lr", LR, "--seed", str(seed), "--quiet", "--overwrite",
           "--no-checkpoint", "--epochs", "1", "--max-steps", str(args.steps)]
    wall, rss, _ = run(cmd, args.work)
    s = json.load(open(os.path.join(rd, "summary.json")))
    _, _, out = run([args.tcdist, "eval", "--model", rd, "--data", case[1], "--json"], args.work)
    return dict(wall=wall, rss=rss, dps=s["samples_per_s"], loop=s["train_seconds"], steps=s["steps"],
                acc=json.loads(out)["accuracy"], cmd=cmd)


def bench_torch(args, case, seed):
    cmd = [sys.executable, os.path.join(HERE, "peer_torch_transformer.py"), case[0], case[1], "--threads",
           str(args.threads), "--batch", str(args.batch), "--steps", str(args.steps), "--lr", LR, "--seed", str(seed)]
    wall, rss, out = run(cmd, args.work, env=dict(ENV, OMP_NUM_THREADS=str(args.threads)))
    r = json.loads(out.strip().splitlines()[-1])
    return dict(wall=wall, rss=rss, dps=r["docs_per_s"], loop=r["wall_s"], steps=r["steps"], acc=r["accuracy"],
                pad=r["positions"] / r["tokens"], cmd=cmd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timed run")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench-transformer")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-transformer.md"))
    ap.add_argument("--prepare-only", action="store_true")
    args = ap.parse_args()
    if not os.path.exists("/usr/bin/time"):
        sys.exit("/usr/bin/time not found: bash launch/install-deps.sh --bench")
    os.makedirs(args.work, exist_ok=True)
    cases = prepare(args)
    if args.prepare_only:
        print("prepared:", cases)
        return
    if not cases:
        sys.exit(f"no corpora found under {args.data}")
    torch_ok = subprocess.run([sys.executable, "-c", "import torch, h5py"], capture_output=True).returncode == 0
    if not torch_ok:
        print(f"PyTorch peer skipped: {sys.executable} cannot import torch and h5py (Debian: python3-torch python3-h5py)")

    res = {"tcdist": [], "torch": []}
    for r in range(args.reps):
        order = [("tcdist", lambda: bench_tcdist(args, cases["sst2"], r + 1))]
        if torch_ok:
            order.append(("torch", lambda: bench_torch(args, cases["sst2"], r + 1)))
        if r % 2:
            order.reverse()  # interleave, alternating who goes first
        for tool, fn in order:
            res[tool].append(fn())
            print(f"sst2 rep {r + 1} {tool}: {res[tool][-1]['dps']:.0f} docs/s", flush=True)

    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    lscpu_model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), cpu)
    tv = subprocess.run([args.tcdist, "--version"], capture_output=True, text=True).stdout.strip()
    torch_v = (subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True).stdout.strip() if torch_ok else "absent")
    t = res["tcdist"]
    L = [f"# Transformer benchmark, {datetime.date.today()}", "",
         f"Machine: `lscpu` model name \"{lscpu_model}\", {os.cpu_count()} cores, {platform.system()} "
         f"{platform.release()}. tcdist `{tv}`, PyTorch {torch_v} (Debian, CPU).",
         f"Command: `python3 tests/bench/bench_transformer.py --reps {args.reps} --steps {args.steps} "
         f"--batch {args.batch} --threads {args.threads}`.",
         "",
         "Both: dim 64, 2 pre-LayerNorm blocks (4 heads, GELU feed-forward 128), dropout 0.1 on the residual "
         f"branches, --max-len 256, mean pooling, sigmoid output, Adam lr {LR} (linear decay), batch {args.batch}, "
         f"{args.threads} threads, the same token ids (tcdist's HDF5).", "",
         f"## SST-2 train, {args.steps} steps of batch {args.batch} ({args.reps} repetitions, interleaved; medians)", "",
         "| tool | docs/s (training loop) | loop s | process wall s | peak RSS MiB | dev accuracy after the steps |",
         "|---|---|---|---|---|---|",
         f"| tcdist | {med(t, 'dps'):.0f} | {med(t, 'loop'):.3f} | {med(t, 'wall'):.3f} | {med(t, 'rss'):.0f} | "
         f"{med(t, 'acc'):.4f} |"]
    if res["torch"]:
        p = res["torch"]
        L += [f"| PyTorch | {med(p, 'dps'):.0f} | {med(p, 'loop'):.3f} | {med(p, 'wall'):.3f} | "
              f"{med(p, 'rss'):.0f} | {med(p, 'acc'):.4f} |", "",
              f"tcdist / PyTorch, docs/s of the training loops: **{med(t, 'dps') / med(p, 'dps'):.2f}x**. Whole "
              f"processes: {med(p, 'wall') / med(t, 'wall'):.2f}x. The peer pads each batch to its longest document "
              f"(masked): it computes {med(p, 'pad'):.2f}x the real positions (tcdist only the real ones)."]
    L += ["", "Raw runs (docs/s, loop s, wall s, RSS MiB, accuracy):", ""]
    for tool in ("tcdist", "torch"):
        for i, x in enumerate(res[tool]):
            L.append(f"- {tool} rep {i + 1}: {x['dps']:.1f}, {x['loop']:.3f}, {x['wall']:.3f}, {x['rss']:.0f}, "
                     f"{x['acc']:.4f}")
    L += ["", "Commands (repetition 1):", ""]
    for tool in ("tcdist", "torch"):
        if res[tool]:
            L.append(f"    {' '.join(res[tool][0]['cmd'])}")
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
