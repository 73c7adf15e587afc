#!/usr/bin/env python3
"""The damage matrix: damaged copies of real corpus, model and checkpoint files (written by this
tcdist) through every command that reads that kind of file.

  matrix.py --kind corpus|model|checkpoint|all [--trials N] [--seed S] [--table FILE]

Each trial damages one copy in one of four ways, chosen in turn: 1-4 bit flips in metadata (bytes
outside every dataset chunk), 1-4 bit flips in data (inside a chunk: covered by its Fletcher32
checksum), truncation at a random offset, or a zeroed block of 16 B to 4 KiB. Then it runs:
  corpus:     inspect --verify; train (a fresh run on it); eval (a model on it); predict --data
  model:      inspect --verify; eval; predict; serve (start on it, answer one :predict, SIGTERM)
  checkpoint: inspect --verify; train (resuming a run whose latest checkpoint is the damaged one)
and classifies each outcome:
  error      exit 1 with a message naming the damaged file
  fallback   resume warned about the damaged checkpoint and finished from an older one, with the
             parameters of an uninterrupted run (bit for bit)
  harmless   exit 0 with exactly the output of the undamaged file (the damaged bytes were never
             used: free space, padding, or data this command does not read)
  ACCEPTED   exit 0 with a different output: damaged data was used
  CRASH      killed by a signal, or an exit status other than 0 and 1, or exit 1 without naming
             the file
  HANG       no exit within 60 s
The test fails on any CRASH or HANG, and on ACCEPTED where the damage was inside a chunk (covered by
a checksum); ACCEPTED after metadata damage, truncation or zeroing is reported in its own column.
"""
import argparse, http.client, json, os, random, shutil, signal, subprocess, sys, tempfile, threading, time

import h5py

TCDIST = os.environ.get("TCDIST", "tcdist")
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
TIMEOUT = 60
HOW = ["flip-meta", "flip-data", "truncate", "zero"]


def run(args, cwd, timeout=TIMEOUT, env=None, stdin=None):
    t0 = time.time()
    try:
        p = subprocess.run([TCDIST] + args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env or ENV, input=stdin)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), time.time() - t0
    except subprocess.TimeoutExpired:
        return None, "", "", time.time() - t0


def serve_once(cwd, model, texts):
    """tcdist serve on the model: the answer to one :predict request for texts, then SIGTERM.
    (rc, answer, stderr); rc is the server's exit status (None: it hung)."""
    p = subprocess.Popen([TCDIST, "serve", "--model", "m=" + model, "--listen", "127.0.0.1:0", "--quiet"], cwd=cwd,
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killer = threading.Timer(TIMEOUT, p.kill)
    killer.start()
    err, port, out = b"", None, ""
    try:
        for line in p.stderr:
            err += line
            if b"listening on http://" in line:
                port = int(line.split(b"http://")[1].split()[0].split(b":")[1])
                break
        if port is not None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
                c.request("POST", "/v1/models/m:predict", json.dumps({"instances": texts}))
                r = c.getresponse()
                out = "%d %s" % (r.status, r.read().decode("utf-8", "replace"))
                c.close()
            except (OSError, http.client.HTTPException) as e:
                out = "no answer: %r" % e
            p.send_signal(signal.SIGTERM)
        err += p.stderr.read()
        rc = p.wait()
    finally:
        hung = not killer.is_alive() and p.returncode == -signal.SIGKILL
        killer.cancel()
    return (None if hung else rc), out, err.decode("utf-8", "replace")


def must(args, cwd, **kw):
    rc, out, err, _ = run(args, cwd, timeout=600, **kw)
    if rc != 0:
        sys.exit("setup failed: tcdist %s: rc %s\n%s" % (" ".join(args), rc, err))
    return out


def chunk_ranges(path):
    """Byte ranges [start, end) of every dataset chunk (the Fletcher32-covered data)."""
    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                for i in range(obj.id.get_num_chunks()):
                    c = obj.id.get_chunk_info(i)
                    out.append((c.byte_offset, c.byte_offset + c.size))
        f.visititems(visit)
    return sorted(out)


def params_sha(run_dir, cwd):
    rc, out, err, _ = run(["inspect", "--json", os.path.join(run_dir, "model.h5")], cwd)
    return json.loads(out)["params_sha256"] if rc == 0 else "(no model: rc %s)" % rc


def make_fixture(d):
    must(["synth", "--docs", "300", "--classes", "3", "--seed", "7", "-o", "train.tsv"], d)
    must(["synth", "--docs", "60", "--classes", "3", "--seed", "8", "-o", "valid.tsv"], d)
    must(["prepare", "--ngrams", "2", "--buckets", "500", "-o", "train.h5", "train.tsv"], d)
    must(["prepare", "--vocab", "train.h5", "-o", "valid.h5", "valid.tsv"], d)
    with open(os.path.join(d, "predict.txt"), "w") as f:
        f.write("a good film\nthe worst plot ever\nplain words here\n")
    common = ["--data", os.path.join(d, "train.h5"), "--quiet", "--threads", "1", "--batch", "25", "--epochs", "1", "--dim", "8",
              "--hidden", "8", "--checkpoint-every", "3", "--keep", "5"]
    must(["train"] + common + ["--run-dir", "full"], d)
    # an interrupted run: checkpoints at steps 3 and 6, the latest (6) is the one damaged
    rc, _, err, _ = run(["train"] + common + ["--run-dir", "cut"], d,
                        env=dict(ENV, TCDIST_FAULT="signal:0:7"))
    latest = open(os.path.join(d, "cut/checkpoints/latest")).read().strip()
    return common, latest


class Matrix:
    def __init__(self, d):
        self.d = d
        self.common, self.latest = make_fixture(d)
        self.ref_train_sha = params_sha("full", d)
        self.fresh = ["--quiet", "--threads", "1", "--batch", "25", "--max-steps", "4", "--dim", "8", "--hidden",
                      "8", "--no-checkpoint"]
        self.kinds = {
            "corpus": ("train.h5", self.corpus_cmds),
            "model": ("full/model.h5", self.model_cmds),
            "checkpoint": ("cut/checkpoints/" + self.latest, self.ckpt_cmds),
        }
        self.ref = {}

    # each returns [(name, outcome-function)] where outcome(trial_dir, damaged_path) -> (rc, output, stderr)
    def corpus_cmds(self):
        def verify(t, p):
            rc, out, err, _ = run(["inspect", "--verify", p], t)
            return rc, out, err
        def train(t, p):
            shutil.rmtree(os.path.join(t, "fresh"), ignore_errors=True)
            rc, out, err, _ = run(["train", "--data", p, "--run-dir", "fresh"] + self.fresh, t)
            return rc, params_sha("fresh", t) if rc == 0 else "", err
        def evaluate(t, p):
            rc, out, err, _ = run(["eval", "--model", os.path.join(self.d, "full"), "--data", p, "--json"], t)
            return rc, out, err
        def batch_predict(t, p):
            out_path = os.path.join(t, "predictions.jsonl")
            rc, out, err, _ = run(["predict", "--model", os.path.join(self.d, "full"), "--data", p, "-o", out_path,
                                   "--top-k", "2", "--batch", "64", "--quiet"], t)
            text = open(out_path).read() if os.path.exists(out_path) else ""
            if os.path.exists(out_path):
                os.remove(out_path)
            return rc, text, err
        return [("inspect", verify), ("train", train), ("eval", evaluate), ("predict", batch_predict)]

    def model_cmds(self):
        def verify(t, p):
            rc, out, err, _ = run(["inspect", "--verify", p], t)
            return rc, out, err
        def evaluate(t, p):
            rc, out, err, _ = run(["eval", "--model", p, "--data", os.path.join(self.d, "valid.h5"), "--json"], t)
            return rc, out, err
        def predict(t, p):
            rc, out, err, _ = run(["predict", "--model", p, "--top-k", "2", "--json",
                                   os.path.join(self.d, "predict.txt")], t)
            return rc, out, err
        def serve(t, p):
            return serve_once(t, p, [l.rstrip("\n") for l in open(os.path.join(self.d, "predict.txt"))])
        return [("inspect", verify), ("eval", evaluate), ("predict", predict), ("serve", serve)]

    def ckpt_cmds(self):
        def verify(t, p):
            rc, out, err, _ = run(["inspect", "--verify", p], t)
            return rc, out, err
        def resume(t, p):
            # p lies in t/cut/checkpoints: the run dir of this trial
            rc, out, err, _ = run(["train"] + self.common + ["--run-dir", "cut"], t)
            sha = params_sha("cut", t) if rc == 0 else ""
            return rc, sha, err
        return [("inspect", verify), ("resume", resume)]

    def trial_dir(self, kind, t):
        """A fresh copy of what the commands need, with the file to damage in place."""
        rel, _ = self.kinds[kind]
        if os.path.exists(t):
            shutil.rmtree(t)
        os.makedirs(t)
        if kind == "checkpoint":
            shutil.copytree(os.path.join(self.d, "cut"), os.path.join(t, "cut"))
        else:
            os.makedirs(os.path.join(t, os.path.dirname(rel)), exist_ok=True)
            shutil.copy(os.path.join(self.d, rel), os.path.join(t, rel))
        return rel  # relative to t, where the commands run: outputs that name it compare equal

    def reference(self, kind):
        t = os.path.join(self.d, "ref-" + kind)
        p = self.trial_dir(kind, t)
        ref = {}
        for name, fn in self.kinds[kind][1]():
            rc, out, err = fn(t, p)
            if rc != 0:
                sys.exit("the undamaged %s fails in %s: rc %s\n%s" % (kind, name, rc, err))
            ref[name] = out
        if kind == "checkpoint" and ref["resume"] != self.ref_train_sha:
            sys.exit("resuming the undamaged run does not give the uninterrupted run's parameters")
        return ref


def damage(path, how, rng, chunks):
    size = os.path.getsize(path)
    data = bytearray(open(path, "rb").read())
    covered = False
    if how in ("flip-meta", "flip-data"):
        if how == "flip-data":
            pool = [(a, b) for a, b in chunks if b > a]
        else:
            pool, at = [], 0
            for a, b in chunks:
                if a > at:
                    pool.append((at, a))
                at = max(at, b)
            if at < size:
                pool.append((at, size))
        weights = [b - a for a, b in pool]
        for _ in range(rng.randint(1, 4)):
            a, b = rng.choices(pool, weights)[0]
            off = rng.randrange(a, b)
            data[off] ^= 1 << rng.randrange(8)
        covered = how == "flip-data"
        open(path, "wb").write(data)
        return "%s" % how, covered
    if how == "truncate":
        cut = rng.randrange(0, size)
        os.truncate(path, cut)
        return "truncate@%d" % cut, False
    n = 1 << rng.randint(4, 12)
    off = rng.randrange(0, max(1, size - n))
    data[off:off + n] = bytes(min(n, size - off))
    open(path, "wb").write(data)
    return "zero %d@%d" % (n, off), False


def classify(name, rc, out, err, ref, path, kind):
    base = os.path.basename(path)
    if rc is None:
        return "HANG"
    if rc == 0:
        if kind == "checkpoint" and name == "resume" and out == ref and "warning" in err and base in err:
            return "fallback"
        return "harmless" if out == ref else "ACCEPTED"
    if rc == 1 and base in err:
        return "error"
    return "CRASH"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="all")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--table", help="append the results table (markdown) to this file")
    a = ap.parse_args()
    kinds = ["corpus", "model", "checkpoint"] if a.kind == "all" else [a.kind]
    d = tempfile.mkdtemp(prefix="tcd_damage_")
    failures, rows = [], []
    t_start = time.time()
    try:
        m = Matrix(d)
        for kind in kinds:
            ref = m.reference(kind)
            chunks = chunk_ranges(os.path.join(d, m.kinds[kind][0]))
            rng = random.Random(a.seed * 1000 + len(kind))
            counts = {}
            for i in range(a.trials):
                how = HOW[i % len(HOW)]
                t = os.path.join(d, "trial")
                p = m.trial_dir(kind, t)
                what, covered = damage(os.path.join(t, p), how, rng, chunks)
                for name, fn in m.kinds[kind][1]():
                    rc, out, err = fn(t, p)
                    c = classify(name, rc, out, err, ref[name], p, kind)
                    if c == "ACCEPTED" and not covered:
                        c = "accepted (uncovered)"
                    key = (name, c)
                    counts[key] = counts.get(key, 0) + 1
                    if c in ("CRASH", "HANG", "ACCEPTED"):
                        keep = os.path.join(d, "failed-%s-%d-%s.h5" % (kind, i, name))
                        failures.append("%s trial %d (%s) %s: %s rc %s\n  stderr: %s" %
                                        (kind, i, what, name, c, rc, err.strip()[-600:]))
                        if os.path.exists(os.path.join(t, p)):
                            shutil.copy(os.path.join(t, p), keep)
            for name, _ in m.kinds[kind][1]():
                row = {c: counts.get((name, c), 0) for c in
                       ("error", "fallback", "harmless", "accepted (uncovered)", "ACCEPTED", "CRASH", "HANG")}
                rows.append((kind, name, row))
                print("%-10s %-8s %s" % (kind, name, "  ".join("%s %d" % (k, v) for k, v in row.items())))
    finally:
        if not failures:
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("damaged files that failed are kept in %s" % d)
    elapsed = time.time() - t_start
    if a.table:
        with open(a.table, "a") as f:
            f.write("| file | command | trials | error (exit 1, names the file) | fallback | harmless | "
                    "accepted, damage outside any chunk | accepted, damage in a checksummed chunk | crash | hang |\n")
            f.write("|---|---|---|---|---|---|---|---|---|---|\n")
            for kind, name, r in rows:
                f.write("| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d |\n" % (
                    kind, name, a.trials, r["error"], r["fallback"], r["harmless"], r["accepted (uncovered)"],
                    r["ACCEPTED"], r["CRASH"], r["HANG"]))
            f.write("\n(%d trials per file kind, seed %d, %.0f s)\n" % (a.trials, a.seed, elapsed))
    for f_ in failures:
        print("FAIL: " + f_, file=sys.stderr)
    print("%d trials per kind in %.0f s: %s" % (a.trials, elapsed, "FAILED" if failures else "no crash, no hang, "
          "no damaged data accepted from a checksummed chunk"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
