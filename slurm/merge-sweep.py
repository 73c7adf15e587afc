#!/usr/bin/env python3
"""Merges a sweep's results (slurm/sweep.sbatch) into one table on stdout.

usage: merge-sweep.py RUN_ROOT [--format tsv|md]

One row per array task found in RUN_ROOT (task-<i>.args or task-<i>/), with its flags and its
summary.json numbers, best valid_accuracy first; tasks that have not finished (no summary.json)
come last with status 'running' (a checkpoint but no summary) or 'missing'. Python 3 stdlib only.
"""
import json
import os
import re
import sys

COLUMNS = ["task", "status", "valid_accuracy", "valid_loss", "final_loss", "steps", "epochs",
           "train_seconds", "tokens_per_s", "world", "threads", "args"]


def fail(msg):
    print(f"merge-sweep: error: {msg}", file=sys.stderr)
    sys.exit(1)


def task_ids(root):
    ids = set()
    for name in os.listdir(root):
        m = re.fullmatch(r"task-(\d+)(\.args)?", name)
        if m:
            ids.add(int(m.group(1)))
    return sorted(ids)


def row_for(root, task):
    row = {c: "" for c in COLUMNS}
    row["task"] = task
    args_path = os.path.join(root, f"task-{task}.args")
    if os.path.exists(args_path):
        with open(args_path) as f:
            row["args"] = " ".join(f.read().split())
    run_dir = os.path.join(root, f"task-{task}")
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        try:
            with open(summary_path) as f:
                s = json.load(f)
        except (OSError, ValueError) as e:
            fail(f"{summary_path}: not readable JSON ({e})")
        row["status"] = "done"
        for c in COLUMNS[2:-1]:
            v = s.get(c)
            row[c] = "" if v is None else v
    elif os.path.exists(os.path.join(run_dir, "checkpoints", "latest")):
        row["status"] = "running"
    else:
        row["status"] = "missing"
    return row


def fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def main(argv):
    fmt_kind = "tsv"
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a == "--format":
            if i + 1 >= len(argv):
                fail("--format needs tsv or md")
            fmt_kind = argv[i + 1]
            i += 2
            continue
        if a.startswith("--format="):
            fmt_kind = a.split("=", 1)[1]
        elif a.startswith("-"):
            fail(f"unknown option '{a}' (see --help)")
        else:
            rest.append(a)
        i += 1
    if fmt_kind not in ("tsv", "md"):
        fail(f"--format must be tsv or md, not '{fmt_kind}'")
    if len(rest) != 1:
        fail("usage: merge-sweep.py RUN_ROOT [--format tsv|md]")
    root = rest[0]
    if not os.path.isdir(root):
        fail(f"{root}: not a folder")
    ids = task_ids(root)
    if not ids:
        fail(f"{root}: no task-<i> run dirs or task-<i>.args files (is this a sweep's RUN_ROOT?)")
    rows = [row_for(root, t) for t in ids]
    # best first; unfinished or unscored tasks last, each group by task id
    rows.sort(key=lambda r: (not isinstance(r["valid_accuracy"], (int, float)),
                             -(r["valid_accuracy"] if isinstance(r["valid_accuracy"], (int, float)) else 0),
                             r["task"]))
    if fmt_kind == "tsv":
        print("\t".join(COLUMNS))
        for r in rows:
            print("\t".join(fmt(r[c]) for c in COLUMNS))
    else:
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join("---" for _ in COLUMNS) + "|")
        for r in rows:
            print("| " + " | ".join(fmt(r[c]).replace("|", "\\|") for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
