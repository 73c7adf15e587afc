#!/usr/bin/env python3
"""Defaults panel (issue 12, part 1 "Defaults that transfer"): on corpora of different shapes, tcdist's
defaults against the best of a small grid of lr x batch x epochs, and against fastText at lr 0.5
and at its own defaults, at equal epochs. Accuracy on each corpus's test split; writes every raw
value to a dated Markdown file in tests/bench/results/ (and one JSON record per run to
WORK/runs.jsonl, which makes the benchmark resumable: finished runs are not repeated).

    python3 tests/bench/bench_panel.py [--tcdist build/tcdist] [--data ../shared/data]
        [--work /tmp/tcdist-panel] [--jobs 2] [--only NAME,..] [--no-grid] [--rule] [--seeds 1,2,3]

Panel:
  sst2     GLUE SST-2 train 67,349 -> dev 872 (../shared/data/sst2)
  imdb     IMDB train 25k -> test 25k (../shared/data/imdb, converted by datasets/imdb.py)
  agnews   AG News test.csv (7,600 rows, 4 classes), split by row index: i % 5 == 4 -> test
           (1,520), the rest -> train (6,080) (converted by datasets/agnews.py)
  syn-*    `tcdist synth` corpora, seed 1, train = --part 0, test = --part 1 (5,000 documents);
           name syn-cC-nN-lL: C classes, N training documents, mean length L words
A real corpus whose files are absent is skipped with a message; the synthetic ones are generated.

Runs (one seed, 1; one thread per run, --jobs runs at a time):
  defaults   `tcdist train --data TRAIN --run-dir R --no-checkpoint --quiet --threads 1` (no
             lr/batch/epochs/model flags: since 2026-12-06 the epochs and lr come from the corpus
             rule, docs/training.md#defaults, and --hidden is auto: 16 for two classes, 0 for
             more), then `tcdist eval --model R --data TEST --json`
  grid       lr in {0.001, 0.004, 0.01, 0.03, 0.1, 0.3} x batch in {32, 192} x epochs in {5, 25};
             epochs 25 only where 25 passes are cheap here: train tokens <= 10.5M and documents
             <= 70k (the others: epochs 5 only)
  fastText   `fasttext supervised -dim 16 -lr 0.5 -epoch E -thread 1` and `fasttext supervised
             -epoch E -thread 1` (its defaults: dim 100, lr 0.1, ...), E = each epoch count of the
             grid; accuracy = the share of `fasttext predict`'s labels that match the gold label,
             counted exactly (`fasttext test` prints P@1 to 3 digits only; the results files
             before 2026-12-06-panel-seeds.md used it)
  rule       (--rule) tcdist with the lr/batch/epochs of rule() below, as explicit flags, and both
             fastText runs at the rule's epochs (equal epochs). rule() is the trainer's corpus rule
             written out; with a tcdist that has it, the defaults runs are the same runs

  seeds      (--seeds) the defaults runs, and both fastText runs at the defaults' epochs (rule()'s),
             again with each further seed (tcdist --seed, fastText -seed); the summary table
             gives their medians and whether the target holds: the defaults within 1 point of the
             grid's best and at least both fastText runs (median against median)

Same text: fastText splits on whitespace only, so its input gets what tcdist's tokenizer does to the
text (lowercased, ASCII punctuation split off as tokens), and its training lines are shuffled once
(seed 0), as in bench_train.py. Before each run the script waits while /tmp/quiet.lock exists.
Not a CTest test: run it by hand."""
import argparse
import concurrent.futures as cf
import datetime
import json
import math
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PUNCT = re.compile(r'([!"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~])')
LRS = [0.001, 0.004, 0.01, 0.03, 0.1, 0.3]
BATCHES = [32, 192]
SYNTH = [  # classes, training documents, mean length (words)
    (2, 1000, 1000), (50, 2000, 40), (20, 5000, 200), (6, 20000, 10),
    (6, 10000, 1000), (50, 100000, 100), (20, 200000, 40), (2, 1000000, 10),
]
LOCK = "/tmp/quiet.lock"


def rule(docs, tokens, classes):
    """The trainer's corpus rule (src/train/setup.c, docs/training.md#defaults), written out:
    returns (lr, batch, epochs). The first rule (2026-12-06 morning; batch 192 always, no classes
    term) was chosen on sst2, imdb, syn-c50-n2k-l40, syn-c20-n5k-l200, syn-c6-n20k-l10 and
    syn-c50-n100k-l100; this one on syn-c50-n2k-l40 and agnews, checked on the rest. Batch: 192,
    or below 23,040 documents the largest multiple of 8 that gives MIN_STEPS steps in 5 epochs,
    at least 32; epochs: from 5 until training has MIN_STEPS steps, at most 25; lr: 0.004, lowered
    so that lr x steps is at most 0.004 x LONG_STEPS (2026-12-07, chosen on fresh synthetic shapes:
    2026-12-07-long-runs.md), then raised so that it is at least 0.004 x MIN_STEPS x f, f =
    log2(classes) above two classes (else 1), at most 0.1."""
    min_steps, long_steps = 600, 3250
    batch = max(32, min(192, docs * 5 // min_steps // 8 * 8))
    per_epoch = max(1, -(-docs // batch))
    epochs = min(25, max(5, -(-min_steps // per_epoch)))
    f = math.log2(classes) if classes > 2 else 1.0
    steps = epochs * per_epoch
    lr = 0.004 * min(1.0, long_steps / steps)
    if steps * lr < 0.004 * min_steps * f:
        lr = min(0.1, 0.004 * min_steps * f / steps)
    return round(lr, 4), batch, epochs


def quiet():
    while os.path.exists(LOCK):
        time.sleep(5)


def sh(cmd):
    quiet()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t0, p.stdout


def ft_line(text, label):
    words = " ".join(PUNCT.sub(r" \1 ", text.lower()).split())
    return f"__label__{label} {words}\n"


def write_ft(rows, path, shuffle):
    lines = [ft_line(t, l) for t, l in rows]
    if shuffle:
        random.Random(0).shuffle(lines)
    open(path, "w").writelines(lines)


def tsv_rows(path):
    return [l.rsplit("\t", 1) for l in open(path, encoding="utf-8").read().splitlines()[1:]]


def prepare(tc, d, train_src, test_src, extra):
    tr, te = os.path.join(d, "train.h5"), os.path.join(d, "test.h5")
    if not os.path.exists(te):
        sh([tc, "prepare", "--threads", "2", *extra, "-o", tr, train_src])
        sh([tc, "prepare", "--threads", "2", *extra, "--vocab", tr, "-o", te, test_src])
    return tr, te


def corpora(args):
    """{name: dict(train, test, ft_train, ft_test)}, converting/generating what is missing."""
    tc, out = args.tcdist, {}
    sst = os.path.join(args.data, "sst2")
    if os.path.exists(os.path.join(sst, "train.tsv")):
        d = os.path.join(args.work, "sst2")
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "test.ft")):
            write_ft(tsv_rows(os.path.join(sst, "train.tsv")), os.path.join(d, "train.ft"), True)
            write_ft(tsv_rows(os.path.join(sst, "dev.tsv")), os.path.join(d, "test.ft"), False)
        out["sst2"] = (d, os.path.join(sst, "train.tsv"), os.path.join(sst, "dev.tsv"), ["--text-field", "sentence"])
    else:
        print(f"SST-2 not found in {sst}: skipping it")
    tar = os.path.join(args.data, "imdb", "aclImdb_v1_nofeat.tar.gz")
    d = os.path.join(args.work, "imdb")
    if os.path.exists(tar) or os.path.exists(os.path.join(d, "test.jsonl")):
        if not os.path.exists(os.path.join(d, "test.jsonl")):
            subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"), tar, d], check=True,
                           stdout=subprocess.DEVNULL)
        if not os.path.exists(os.path.join(d, "test.ft")):
            for s in ("train", "test"):
                rows = [(r["text"], r["label"]) for r in map(json.loads, open(os.path.join(d, f"{s}.jsonl")))]
                write_ft(rows, os.path.join(d, f"{s}.ft"), s == "train")
        out["imdb"] = (d, os.path.join(d, "train.jsonl"), os.path.join(d, "test.jsonl"), [])
    else:
        print(f"IMDB not found at {tar}: skipping it")
    ag = os.path.join(args.data, "agnews")
    if os.path.exists(os.path.join(ag, "test.csv")):
        d = os.path.join(args.work, "agnews")
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "split-test.tsv")):
            subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "agnews.py"), ag, d], check=True,
                           stdout=subprocess.DEVNULL)
            rows = tsv_rows(os.path.join(d, "test.tsv"))
            split = {"train": [r for i, r in enumerate(rows) if i % 5 != 4],
                     "test": [r for i, r in enumerate(rows) if i % 5 == 4]}
            for s, rs in split.items():
                open(os.path.join(d, f"split-{s}.tsv"), "w", encoding="utf-8").writelines(
                    ["text\tlabel\n"] + [f"{t}\t{l}\n" for t, l in rs])
                write_ft(rs, os.path.join(d, f"{s}.ft"), s == "train")
        out["agnews"] = (d, os.path.join(d, "split-train.tsv"), os.path.join(d, "split-test.tsv"), [])
    else:
        print(f"AG News not found in {ag}: skipping it")
    for c, n, L in SYNTH:
        name = f"syn-c{c}-n{n // 1000}k-l{L}" if n < 1000000 else f"syn-c{c}-n{n // 1000000}m-l{L}"
        if args.only and name not in args.only:
            continue
        d = os.path.join(args.work, name)
        os.makedirs(d, exist_ok=True)
        for part, docs, s in ((0, n, "train"), (1, 5000, "test")):
            tsv = os.path.join(d, f"{s}.tsv")
            if not os.path.exists(os.path.join(d, f"{s}.ft")):
                sh([tc, "synth", "-o", tsv, "--docs", str(docs), "--classes", str(c), "--mean-len", str(L),
                    "--seed", "1", "--part", str(part), "--threads", "2"])
                write_ft(tsv_rows(tsv), os.path.join(d, f"{s}.ft"), s == "train")
        out[name] = (d, os.path.join(d, "train.tsv"), os.path.join(d, "test.tsv"), [])
    res = {}
    for name, (d, trs, tes, extra) in out.items():
        if args.only and name not in args.only:
            continue
        tr, te = prepare(tc, d, trs, tes, extra)
        info = json.loads(subprocess.run([tc, "inspect", tr, "--json"], capture_output=True, text=True,
                                         check=True).stdout)
        nte = json.loads(subprocess.run([tc, "inspect", te, "--json"], capture_output=True, text=True,
                                        check=True).stdout)["n_docs"]
        res[name] = dict(train=tr, test=te, ft_train=os.path.join(d, "train.ft"), ft_test=os.path.join(d, "test.ft"),
                         docs=info["n_docs"], tokens=info["n_tokens"], classes=info["n_classes"],
                         vocab=info["vocab_size"], test_docs=nte)
    return res


def grid_epochs(c):
    return [5, 25] if c["tokens"] <= 10.5e6 and c["docs"] <= 70000 else [5]


def jobs_for(args, corp):
    """(corpus, kind, params) for every run wanted."""
    out = []
    for name, c in corp.items():
        out.append((name, "defaults", {}))
        e = rule(c["docs"], c["tokens"], c["classes"])[2]
        for s in args.seeds:
            sp = {} if s == 1 else {"seed": s}
            out.append((name, "defaults", dict(sp)))
            out.append((name, "ft-lr0.5", dict(epochs=e, **sp)))
            out.append((name, "ft-default", dict(epochs=e, **sp)))
        if not args.no_grid:
            for e in grid_epochs(c):
                for lr in LRS:
                    for b in BATCHES:
                        out.append((name, "grid", dict(lr=lr, batch=b, epochs=e)))
                out.append((name, "ft-lr0.5", dict(epochs=e)))
                out.append((name, "ft-default", dict(epochs=e)))
        if args.rule:
            lr, b, e = rule(c["docs"], c["tokens"], c["classes"])
            out.append((name, "rule", dict(lr=lr, batch=b, epochs=e)))
            out.append((name, "ft-lr0.5", dict(epochs=e)))
            out.append((name, "ft-default", dict(epochs=e)))
    seen, uniq = set(), []
    for j in out:
        if key(*j) not in seen:
            seen.add(key(*j))
            uniq.append(j)
    return uniq


def key(name, kind, p):
    return f"{name}|{kind}|" + ",".join(f"{k}={v}" for k, v in sorted(p.items()))


def one(args, corp, name, kind, p, slot):
    c = corp[name]
    rd = os.path.join(args.work, "runs", f"slot{slot}")
    if kind.startswith("ft"):
        model = rd + "-ft"
        cmd = ["fasttext", "supervised", "-input", c["ft_train"], "-output", model, "-epoch", str(p["epochs"]),
               "-thread", "1", "-verbose", "0", "-seed", str(p.get("seed", 1))]
        if kind == "ft-lr0.5":
            cmd += ["-lr", "0.5", "-dim", "16"]
        wall, _ = sh(cmd)
        # `fasttext test` prints P@1 to 3 digits (SST-2: 713 and 714 of 872 both print 0.818): count
        # the predictions against the gold labels instead, as tcdist's eval does
        _, out = sh(["fasttext", "predict", model + ".bin", c["ft_test"]])
        gold = [l.split(" ", 1)[0] for l in open(c["ft_test"], encoding="utf-8")]
        pred = out.split()
        if len(pred) != len(gold):
            sys.exit(f"fasttext predict gave {len(pred)} labels for the {len(gold)} lines of {c['ft_test']}")
        acc = sum(g == q for g, q in zip(gold, pred)) / len(gold)
    else:
        cmd = [args.tcdist, "train", "--data", c["train"], "--run-dir", rd, "--threads", "1",
               "--seed", str(p.get("seed", 1)), "--quiet", "--overwrite", "--no-checkpoint"]
        for k in ("lr", "batch", "epochs", "emb_lr"):
            if k in p:
                cmd += [f"--{k.replace('_', '-')}", str(p[k])]
        wall, _ = sh(cmd)
        _, out = sh([args.tcdist, "eval", "--model", rd, "--data", c["test"], "--json"])
        acc = json.loads(out)["accuracy"]
        cfg = json.load(open(os.path.join(rd, "config.json")))
        used = dict(epochs=cfg["epochs"], lr=cfg["lr"], batch=cfg["batch"], hidden=cfg.get("hidden"))
        return dict(corpus=name, kind=kind, params=p, acc=acc, wall=round(wall, 3), cmd=" ".join(cmd), used=used)
    return dict(corpus=name, kind=kind, params=p, acc=acc, wall=round(wall, 3), cmd=" ".join(cmd))


def fmt_p(p):
    return " ".join(f"{k} {v}" for k, v in p.items())


def report(args, corp, recs):
    by = {}
    for r in recs:
        if r["corpus"] in corp:
            by.setdefault(r["corpus"], []).append(r)
    cpu = "unknown"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            cpu = line.split(":", 1)[1].strip()
    ver = subprocess.run([args.tcdist, "--version"], capture_output=True, text=True).stdout.strip()
    ftv = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "fasttext"], capture_output=True, text=True).stdout
    L = [f"# Defaults panel, {datetime.date.today()}", "",
         f"Machine: {cpu}, {os.cpu_count()} cores (shared with other work), {platform.system()} {platform.release()}. "
         f"tcdist `{ver}`, fastText `{ftv}` (Debian). Seed 1 (grid and fastText at fixed epochs); seeds {args.seeds} for "
         f"the defaults and for fastText at the defaults' epochs. One thread per run, {args.jobs} runs at a time.",
         f"Command: `python3 tests/bench/bench_panel.py {' '.join(sys.argv[1:])}`. Grid: lr {LRS} x batch {BATCHES} x "
         "epochs {5, 25} (25 only where train tokens <= 10.5M and documents <= 70k). tcdist: model bow, "
         "dim 16, hidden auto (16 for two classes, 0 for more), Adam, linear decay to 0, no warmup (its defaults "
         "apart from the grid's flags).", "",
         "| corpus | train docs | tokens/doc | train tokens | classes | vocab | test docs |", "|---|---|---|---|---|---|---|"]
    for n, c in corp.items():
        L.append(f"| {n} | {c['docs']} | {c['tokens'] / c['docs']:.1f} | {c['tokens']} | {c['classes']} | "
                 f"{c['vocab']} | {c['test_docs']} |")
    L += ["", "Accuracy on the test split. grid best = best over the whole grid (both epoch counts); "
          "grid best @5 = best at 5 epochs. fastText at 5 epochs (and 25 where gridded).", "",
          "| corpus | defaults | grid best @5 (lr, batch) | grid best (lr, batch, epochs) | fastText lr 0.5 @5 | "
          "fastText default @5 | fastText lr 0.5 @25 | fastText default @25 | rule (lr, batch, epochs) | "
          "fastText lr 0.5 @rule's epochs | fastText default @rule's epochs |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n in corp:
        rs = by.get(n, [])
        get = lambda k, e=None: [r for r in rs if r["kind"] == k and (e is None or r["params"].get("epochs") == e)]  # noqa: E731
        d = get("defaults")
        g, g5 = get("grid"), get("grid", 5)
        cell = lambda xs: f"{xs[0]['acc']:.4f}" if xs else "-"  # noqa: E731
        best = lambda xs, f: (lambda b: f"{b['acc']:.4f} ({f(b['params'])})")(max(xs, key=lambda r: r["acc"])) if xs else "-"  # noqa: E731
        rl = get("rule")
        lb = lambda p: "%g, %d" % (p["lr"], p["batch"])  # noqa: E731
        lbe = lambda p: "%.3g, %d, %d" % (p["lr"], p["batch"], p["epochs"])  # noqa: E731
        L.append(f"| {n} | {cell(d)} | {best(g5, lb)} | {best(g, lbe)} | {cell(get('ft-lr0.5', 5))} | "
                 f"{cell(get('ft-default', 5))} | {cell(get('ft-lr0.5', 25))} | {cell(get('ft-default', 25))} | "
                 f"{best(rl, lbe)} | {cell(get('ft-lr0.5', rl[0]['params']['epochs'])) if rl else '-'} | "
                 f"{cell(get('ft-default', rl[0]['params']['epochs'])) if rl else '-'} |")
    if args.seeds != [1]:
        L += ["", f"Summary over seeds {args.seeds} (medians; fastText at the defaults' epochs; target: the "
              "defaults within 1 point of the grid's best, and at least both fastText medians):", "",
              "| corpus | defaults used (batch, epochs, lr, hidden) | defaults, each seed | defaults median | grid best | "
              "- grid best (points) | fastText lr 0.5 median | fastText default median | target met |",
              "|---|---|---|---|---|---|---|---|---|"]
        for n in corp:
            rs = by.get(n, [])
            seed_of = lambda r: r["params"].get("seed", 1)  # noqa: E731
            e = rule(corp[n]["docs"], corp[n]["tokens"], corp[n]["classes"])[2]
            d = sorted((r for r in rs if r["kind"] == "defaults" and seed_of(r) in args.seeds), key=seed_of)
            fa = [r["acc"] for r in rs if r["kind"] == "ft-lr0.5" and r["params"]["epochs"] == e and seed_of(r) in args.seeds]
            fd = [r["acc"] for r in rs if r["kind"] == "ft-default" and r["params"]["epochs"] == e and seed_of(r) in args.seeds]
            g = [r["acc"] for r in rs if r["kind"] == "grid"]
            if not d or not fa or not fd:
                continue
            u = next((r["used"] for r in d if r.get("used")), {})
            md = statistics.median(r["acc"] for r in d)
            ok = md >= statistics.median(fa) and md >= statistics.median(fd)
            if g:  # --no-grid on a fresh --work: the fastText half of the target only
                ok = ok and md >= max(g) - 0.01
            verdict = ("yes" if ok else "no") if g else ("fastText's half: " + ("yes" if ok else "no"))
            gcells = f"{max(g):.4f} | {100 * (md - max(g)):+.2f}" if g else "- | -"
            L.append(f"| {n} | {u.get('batch')}, {u.get('epochs')}, {u.get('lr', 0):.3g}, {u.get('hidden')} | "
                     f"{', '.join('%.4f' % r['acc'] for r in d)} | {md:.4f} | {gcells} | "
                     f"{statistics.median(fa):.4f} | {statistics.median(fd):.4f} | {verdict} |")
    L += ["", "## Raw runs", "", "Grid accuracy, rows lr, columns batch/epochs:", ""]
    for n in corp:
        rs = [r for r in by.get(n, []) if r["kind"] == "grid"]
        if not rs:
            continue
        cols = sorted({(r["params"]["epochs"], r["params"]["batch"]) for r in rs})
        L += [f"{n}:", "", "| lr | " + " | ".join(f"b{b} e{e}" for e, b in cols) + " |",
              "|---|" + "---|" * len(cols)]
        for lr in LRS:
            row = []
            for e, b in cols:
                m = [r for r in rs if r["params"] == dict(lr=lr, batch=b, epochs=e)]
                row.append(f"{m[0]['acc']:.4f}" if m else "-")
            L.append(f"| {lr} | " + " | ".join(row) + " |")
        L.append("")
    L += ["Every run (corpus, kind, settings, accuracy, training wall s, command):", ""]
    for r in recs:
        if r["corpus"] in corp:
            L.append(f"- {r['corpus']} {r['kind']} {fmt_p(r['params'])}: {r['acc']:.4f}, {r['wall']:.2f} s; `{r['cmd']}`")
    return "\n".join(L) + "\n"


def run_jobs(args, corp, jobs):
    """Runs the jobs not yet in WORK/runs.jsonl, --jobs at a time, appending each record there;
    returns every record of the file."""
    log = os.path.join(args.work, "runs.jsonl")
    recs = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
    done = {key(r["corpus"], r["kind"], r["params"]) for r in recs}
    todo = [j for j in jobs if key(*j) not in done]
    print(f"{len(corp)} corpora, {len(todo)} runs to do", flush=True)
    lock, slots = threading.Lock(), list(range(args.jobs))

    def task(j):
        with lock:
            s = slots.pop()
        try:
            return one(args, corp, *j, s)
        finally:
            with lock:
                slots.append(s)

    with cf.ThreadPoolExecutor(args.jobs) as ex:
        for i, fut in enumerate(cf.as_completed([ex.submit(task, j) for j in todo])):
            r = fut.result()
            recs.append(r)
            with open(log, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"[{i + 1}/{len(todo)}] {r['corpus']} {r['kind']} {fmt_p(r['params'])}: {r['acc']:.4f} "
                  f"({r['wall']:.1f} s)", flush=True)
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    ap.add_argument("--work", default="/tmp/tcdist-panel")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", type=lambda s: s.split(","), default=None)
    ap.add_argument("--no-grid", action="store_true", help="defaults (and --rule) only")
    ap.add_argument("--rule", action="store_true", help="also run rule()'s settings")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1],
                    help="seeds of the defaults runs and of fastText at the defaults' epochs (medians)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", f"{datetime.date.today()}-panel.md"))
    args = ap.parse_args()
    args.tcdist = os.path.abspath(args.tcdist)
    if not shutil.which("fasttext"):
        sys.exit("fasttext not found: bash launch/install-deps.sh --bench")
    os.makedirs(os.path.join(args.work, "runs"), exist_ok=True)
    corp = corpora(args)
    if not corp:
        sys.exit("no corpora")
    recs = run_jobs(args, corp, jobs_for(args, corp))
    text = report(args, corp, recs)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    open(args.out, "w").write(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
