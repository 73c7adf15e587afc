#!/usr/bin/env python3
"""CNN benchmark: tcdist `--model cnn` against the same architecture in PyTorch CPU
(tests/bench/peer_torch_cnn.py), in one run, interleaved; training documents per second and peak RSS
of both, medians; then tcdist's seconds per IMDB epoch on 1 rank x 2 threads and 2 ranks x 1 thread.
Writes a dated Markdown file in tests/bench/results/.

    python3 tests/bench/bench_cnn.py [--reps 3] [--steps 100] [--batch 256] [--imdb-steps 0]
    python3 tests/bench/bench_cnn.py --prepare-only      # convert and prepare the corpora, untimed

Model (both): Kim's CNN-rand with tcdist's defaults: dim 128, widths 3,4,5 with 100 filters each,
dropout 0.5, --max-len 400, one sigmoid output; Adam (eps 1e-7), lr 0.001 decaying linearly to 0.
Same data and token ids (the peer reads tcdist's prepared HDF5 with h5py), same batch, 2 threads
each (tcdist --threads 2; torch.set_num_threads(2)), --steps steps of one epoch's shuffled order
(each tool its own shuffle).

Cases:
  sst2   GLUE SST-2 train (67,349 sentences) -> dev 872, the pair interleaved --reps times
  imdb   IMDB train 25k (datasets/imdb.py), tcdist only: one epoch at `--threads 2` and at
         `mpirun -np 2 --bind-to core ... --threads 1`, or with --imdb-steps N only its first N steps,
         the seconds per epoch then extrapolated from them (loop seconds x steps per epoch / N);
         --imdb-peer-steps > 0 also times the PyTorch peer for that many steps (its docs/s on IMDB)
A corpus that is absent is skipped with a message.

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
    """tcdist's corpora of each case present: {case: (train.h5, test.h5)}."""
    tc, cases = args.tcdist, {}
    sst = os.path.join(args.data, "sst2")
    if os.path.exists(os.path.join(sst, "train.tsv")):
        d = os.path.join(args.work, "sst2")
        os.makedirs(d, exist_ok=True)
        tr, te = os.path.join(d, "train.h5"), os.path.join(d, "dev.h5")
        if not os.path.exists(te):
            subprocess.run([tc, "prepare", "--text-field", "sentence", "-o", tr, os.path.join(sst, "train.tsv")],
                           check=True, stdout=subprocess.DEVNULL)
            subprocess.run([tc, "prepare", "--text-field", "sentence", "--vocab", tr, "-o", te,
                            os.path.join(sst, "dev.tsv")], check=True, stdout=subprocess.DEVNULL)
        cases["sst2"] = (tr, te)
    else:
        print(f"SST-2 not found in {sst}: skipping it")
    tar = os.path.join(args.data, "imdb", "aclImdb_v1_nofeat.tar.gz")
    if args.imdb > 0 and os.path.exists(tar):
        d = os.path.join(args.work, "imdb")
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "test.jsonl")):
            subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"), tar, d], check=True,
                           stdout=subprocess.DEVNULL)
        tr, te = os.path.join(d, "cnn-train.h5"), os.path.join(d, "cnn-test.h5")
        if not os.path.exists(te):
            subprocess.run([tc, "prepare", "-o", tr, os.path.join(d, "train.jsonl")], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([tc, "prepare", "--vocab", tr, "-o", te, os.path.join(d, "test.jsonl")], check=True,
                           stdout=subprocess.DEVNULL)
        cases["imdb"] = (tr, te)
    elif args.imdb > 0:
        print(f"IMDB not found at {tar}: skipping it")
    return cases


def tcdist_cmd(args, data, rd, seed, threads, extra=()):
    return [args.tcdist, "train", "--data", data, "--run-dir", rd, "--model", "cnn", "--threads", str(threads),
            "--batch", str(args.batch), "--lr", LR, "--seed", str(seed), "--quiet", "--overwrite", "--no-checkpoint",
            *extra]


def bench_tcdist(args, case, seed):
    rd = os.path.join(args.work, "run-cnn")
    cmd = tcdist_cmd(args, case[0], rd, seed, 2, ["--epochs", "1", "--max-steps", str(args.steps)])
    wall, rss, _ = run(cmd, args.work)
    s = json.load(open(os.path.join(rd, "summary.json")))
    _, _, out = run([args.tcdist, "eval", "--model", rd, "--data", case[1], "--json"], args.work)
    return dict(wall=wall, rss=rss, dps=s["samples_per_s"], loop=s["train_seconds"], steps=s["steps"],
                acc=json.loads(out)["accuracy"], cmd=cmd)


def bench_torch(args, case, seed, steps, test=True):
    cmd = [sys.executable, os.path.join(HERE, "peer_torch_cnn.py"), case[0], *([case[1]] if test else []),
           "--threads", "2", "--batch", str(args.batch), "--steps", str(steps), "--lr", LR, "--seed", str(seed)]
    wall, rss, out = run(cmd, args.work, env=dict(ENV, OMP_NUM_THREADS="2"))
    r = json.loads(out.strip().splitlines()[-1])
    return dict(wall=wall, rss=rss, dps=r["docs_per_s"], loop=r["wall_s"], steps=r["steps"], acc=r["accuracy"],
                pad=r["positions"] / r["tokens"], cmd=cmd)


def imdb_epoch(args, case, ranks):
    rd = os.path.join(args.work, f"run-imdb-{ranks}")
    cap = ["--max-steps", str(args.imdb_steps)] if args.imdb_steps > 0 else []
    cmd = tcdist_cmd(args, case[0], rd, 1, 2 // ranks, ["--epochs", "1", *cap])
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core", *cmd]
    wall, rss, _ = run(cmd, args.work, env=dict(ENV, OMP_NUM_THREADS=str(2 // ranks)))
    s = json.load(open(os.path.join(rd, "summary.json")))
    per_epoch = -(-25000 // args.batch)
    return dict(wall=wall, rss=rss, loop=s["train_seconds"], dps=s["samples_per_s"], steps=s["steps"], cmd=cmd,
                epoch_s=s["train_seconds"] * per_epoch / s["steps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="training steps per timed SST-2 run")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--imdb", type=int, default=1, help="0: skip IMDB")
    ap.add_argument("--imdb-steps", type=int, default=0, help="time only this many IMDB steps (0: the whole epoch)")
    ap.add_argument("--imdb-peer-steps", type=int, default=0, help="also time the peer on IMDB for this many steps")
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-bench-cnn")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-cnn.md"))
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
    if "sst2" in cases:
        for r in range(args.reps):
            order = [("tcdist", lambda: bench_tcdist(args, cases["sst2"], r + 1))]
            if torch_ok:
                order.append(("torch", lambda: bench_torch(args, cases["sst2"], r + 1, args.steps)))
            if r % 2:
                order.reverse()  # interleave, alternating who goes first
            for tool, fn in order:
                res[tool].append(fn())
                print(f"sst2 rep {r + 1} {tool}: {res[tool][-1]['dps']:.0f} docs/s", flush=True)
    imdb = {}
    if "imdb" in cases:
        for ranks in (1, 2):
            imdb[ranks] = imdb_epoch(args, cases["imdb"], ranks)
            print(f"imdb {ranks} rank(s): {imdb[ranks]['loop']:.1f} s", flush=True)
        if torch_ok and args.imdb_peer_steps > 0:
            imdb["torch"] = bench_torch(args, cases["imdb"], 1, args.imdb_peer_steps, test=False)
            print(f"imdb torch: {imdb['torch']['dps']:.0f} docs/s", flush=True)

    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    lscpu_model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Model name")), cpu)
    tv = subprocess.run([args.tcdist, "--version"], capture_output=True, text=True).stdout.strip()
    torch_v = (subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True).stdout.strip() if torch_ok else "absent")
    L = [f"# CNN benchmark, {datetime.date.today()}", "",
         f"Machine: `lscpu` model name \"{lscpu_model}\", {os.cpu_count()} cores, {platform.system()} "
         f"{platform.release()}. tcdist `{tv}`, PyTorch {torch_v} (Debian, CPU).",
         f"Command: `python3 tests/bench/bench_cnn.py --reps {args.reps} --steps {args.steps} --batch {args.batch} "
         f"--imdb {args.imdb} --imdb-steps {args.imdb_steps} --imdb-peer-steps {args.imdb_peer_steps}`.",
         "",
         "Both: Kim's CNN-rand, dim 128, widths 3,4,5 x 100 filters, dropout 0.5, --max-len 400, sigmoid output, "
         f"Adam lr {LR} (linear decay), batch {args.batch}, 2 threads, the same token ids (tcdist's HDF5).", ""]
    if res["tcdist"]:
        t = res["tcdist"]
        L += [f"## SST-2 train, {args.steps} steps of batch {args.batch} ({args.reps} repetitions, interleaved; "
              "medians)", "",
              "| tool | docs/s (training loop) | loop s | process wall s | peak RSS MiB | dev accuracy after the steps |",
              "|---|---|---|---|---|---|",
              f"| tcdist | {med(t, 'dps'):.0f} | {med(t, 'loop'):.3f} | {med(t, 'wall'):.3f} | {med(t, 'rss'):.0f} | "
              f"{med(t, 'acc'):.4f} |"]
        if res["torch"]:
            p = res["torch"]
            L += [f"| PyTorch | {med(p, 'dps'):.0f} | {med(p, 'loop'):.3f} | {med(p, 'wall'):.3f} | "
                  f"{med(p, 'rss'):.0f} | {med(p, 'acc'):.4f} |", "",
                  f"tcdist / PyTorch, docs/s of the training loops: **{med(t, 'dps') / med(p, 'dps'):.2f}x** "
                  f"(issue 11's target: >= 5x). Whole processes: "
                  f"{med(p, 'wall') / med(t, 'wall'):.2f}x. The peer pads each batch to its longest document: "
                  f"it convolves {med(p, 'pad'):.2f}x the real positions (tcdist only the real ones, a document "
                  "shorter than 5 padded to 5)."]
        L += ["", "Raw runs (docs/s, loop s, wall s, RSS MiB, accuracy):", ""]
        for tool in ("tcdist", "torch"):
            for i, x in enumerate(res[tool]):
                L.append(f"- {tool} rep {i + 1}: {x['dps']:.1f}, {x['loop']:.3f}, {x['wall']:.3f}, {x['rss']:.0f}, "
                         f"{x['acc']:.4f}")
        L += ["", "Commands (repetition 1):", ""]
        for tool in ("tcdist", "torch"):
            if res[tool]:
                L.append(f"    {' '.join(res[tool][0]['cmd'])}")
    if imdb:
        span = (f"its first {args.imdb_steps} steps, extrapolated to the epoch's {-(-25000 // args.batch)}"
                if args.imdb_steps > 0 else "one whole epoch")
        L += ["", f"## IMDB train (25,000 reviews), tcdist, batch {args.batch}, {span}; one run each", "",
              "| layout | s per epoch (training loop) | steps timed | loop s | docs/s | process wall s | peak RSS MiB |",
              "|---|---|---|---|---|---|---|"]
        for ranks in (1, 2):
            if ranks in imdb:
                x = imdb[ranks]
                name = "1 rank x 2 threads" if ranks == 1 else "2 ranks x 1 thread (mpirun)"
                L.append(f"| {name} | {x['epoch_s']:.1f} | {x['steps']} | {x['loop']:.2f} | {x['dps']:.0f} | "
                         f"{x['wall']:.2f} | {x['rss']:.0f} |")
        if "torch" in imdb:
            x = imdb["torch"]
            L += ["", f"PyTorch peer on IMDB, {x['steps']} steps: {x['dps']:.0f} docs/s (loop {x['loop']:.2f} s), "
                      f"peak RSS {x['rss']:.0f} MiB; tcdist 1 x 2 at {imdb[1]['dps']:.0f} docs/s = "
                      f"**{imdb[1]['dps'] / x['dps']:.2f}x**."]
        L += ["", "Commands:", ""] + [f"    {' '.join(imdb[r]['cmd'])}" for r in (1, 2) if r in imdb]
        if "torch" in imdb:
            L.append(f"    {' '.join(imdb['torch']['cmd'])}")
        L += ["", "The RSS of the mpirun row is mpirun's own process tree as /usr/bin/time reports it (the largest "
                  "single process), not the sum of the ranks."]
    text = "\n".join(L) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
