#!/usr/bin/env python3
"""--emb-lr on the defaults panel (issue 12): tcdist's defaults with the embedding table trained by
Adam (emb_lr 0, today's default) and by plain SGD at each --emb-lr given, against fastText at lr 0.5
and at its own defaults at the same epochs, on the corpora of bench_panel.py (the same files, made
by its corpora()). Each setting runs with every seed; the table gives medians of accuracy on each
corpus's test split. The corpora are split in two by --choose: those a value may be chosen on, and
the rest, held out to check the choice on, reported apart.

    python3 tests/bench/bench_emb_lr.py --emb-lr 0.3,1 --seeds 1,2,3 [--only NAME,..]
        [--choose sst2,agnews,...] [--work /tmp/tcdist-panel] [--jobs 2] [--out FILE]

Runs, finished records and the work folder are bench_panel.py's (WORK/runs.jsonl: a run already
there is not repeated). One thread per run, --jobs at a time. Not a CTest test: run it by hand."""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

import bench_panel as bp

CHOOSE = ["sst2", "agnews", "syn-c50-n2k-l40", "syn-c2-n1m-l10"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tcdist", default=os.path.join(bp.ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(bp.ROOT), "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-panel")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", type=lambda s: s.split(","), default=None)
    ap.add_argument("--emb-lr", type=lambda s: [float(x) for x in s.split(",")], default=[0.3])
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    ap.add_argument("--choose", type=lambda s: s.split(","), default=CHOOSE,
                    help="corpora the value may be chosen on; the others are the held-out check")
    ap.add_argument("--out", default=os.path.join(bp.HERE, "results", f"{datetime.date.today()}-emb-lr.md"))
    args = ap.parse_args()
    args.tcdist = os.path.abspath(args.tcdist)
    if not shutil.which("fasttext"):
        sys.exit("fasttext not found: bash launch/install-deps.sh --bench")
    os.makedirs(os.path.join(args.work, "runs"), exist_ok=True)
    corp = bp.corpora(args)
    if not corp:
        sys.exit("no corpora")
    jobs = []
    for name, c in corp.items():
        e = bp.rule(c["docs"], c["tokens"], c["classes"])[2]
        for s in args.seeds:
            sp = {} if s == 1 else {"seed": s}
            jobs.append((name, "defaults", dict(sp)))
            for x in args.emb_lr:
                jobs.append((name, "defaults", dict(emb_lr=x, **sp)))
            jobs.append((name, "ft-lr0.5", dict(epochs=e, **sp)))
            jobs.append((name, "ft-default", dict(epochs=e, **sp)))
    recs = bp.run_jobs(args, corp, jobs)
    want = {bp.key(*j) for j in jobs}
    acc = {}
    for r in recs:
        if bp.key(r["corpus"], r["kind"], r["params"]) in want:
            p = dict(r["params"])
            p.pop("seed", None)
            p.pop("epochs", None)
            col = r["kind"] if r["kind"].startswith("ft") else f"emb_lr {p.get('emb_lr', 0)}"
            acc.setdefault(r["corpus"], {}).setdefault(col, []).append((r["params"].get("seed", 1), r["acc"]))
    acc = {n: {c: [a for _, a in sorted(v)] for c, v in d.items()} for n, d in acc.items()}
    cols = ["emb_lr 0"] + [f"emb_lr {x}" for x in args.emb_lr] + ["ft-lr0.5", "ft-default"]
    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True)
                .stdout.splitlines() if l.startswith("Model name")), "unknown")
    L = [f"# --emb-lr on the defaults panel, {datetime.date.today()}", "",
         f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}. One thread per run, "
         f"{args.jobs} at a time. Seeds {args.seeds}. Command: `python3 tests/bench/bench_emb_lr.py "
         f"{' '.join(sys.argv[1:])}`.", "",
         "tcdist: its defaults (the corpus rule's lr, batch and epochs), with `--emb-lr X` added where X > 0; "
         "fastText: `-lr 0.5 -dim 16` and its defaults, at the rule's epochs. Medians over the seeds of the test "
         "accuracy; in brackets, the change against emb_lr 0 in points.", ""]
    for part, names in (("Chosen on", [n for n in corp if n in args.choose]),
                        ("Held out", [n for n in corp if n not in args.choose])):
        if not names:
            continue
        L += [f"## {part}", "", "| corpus | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for n in names:
            med = {c: statistics.median(acc[n][c]) for c in cols if acc.get(n, {}).get(c)}
            cells = []
            for c in cols:
                if c not in med:
                    cells.append("-")
                elif c.startswith("emb_lr") and c != "emb_lr 0" and "emb_lr 0" in med:
                    cells.append(f"{med[c]:.4f} ({100 * (med[c] - med['emb_lr 0']):+.2f})")
                else:
                    cells.append(f"{med[c]:.4f}")
            L.append(f"| {n} | " + " | ".join(cells) + " |")
        L.append("")
    L += ["## Every run", "", "| corpus | setting | accuracies (seed order) |", "|---|---|---|"]
    for n in corp:
        for c in cols:
            if acc.get(n, {}).get(c):
                L.append(f"| {n} | {c} | " + ", ".join(f"{a:.4f}" for a in acc[n][c]) + " |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write("\n".join(L) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
