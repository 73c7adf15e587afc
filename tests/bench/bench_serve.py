#!/usr/bin/env python3
"""tcdist serve against its peers, side by side in one run, on IMDB's model (train 25k, unigrams,
tcdist's defaults, 5 epochs):

  single   wrk, 2 threads, 32 keep-alive connections, a Lua script posting one short document
           (the first 12 words of a test review, rotating over 1000) per :predict request:
           requests/s, p50 and p99 latency;
  batch    the same with 64 whole test reviews per request: documents/s;
  peers    the same two runs against the model in PyTorch behind Flask/gunicorn (2 x cores + 1
           workers, gunicorn's advice; tests/bench/peer_flask.py), and, offline, `fasttext predict` (a fastText model trained
           on the same text) and `tcdist predict` over the 25k test reviews: documents/s.

Medians of --reps runs; the ratios are tcdist over the peer. Everything shares the machine's cores
(wrk too), as on a 2-core box. Writes tests/bench/results/DATE-serve.md. Skips, with a message,
without ../shared/data/imdb, wrk, gunicorn or fasttext.

    python3 tests/bench/bench_serve.py [--data ../shared/data] [--reps 3] [--duration 10]"""
import argparse, json, os, platform, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import ft_line  # noqa: E402  (fastText's input: the same lowercase + punctuation split)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit("the server exited (rc %s)" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("no server on port %d after %d s" % (port, timeout))


def lua(path, bodies):
    with open(path, "w") as f:
        f.write("local bodies = {\n")
        for b in bodies:
            f.write("[==[%s]==],\n" % b)
        f.write("}\nlocal i = 0\nlocal headers = {[\"Content-Type\"] = \"application/json\"}\n"
                "request = function()\n  i = i % #bodies + 1\n"
                "  return wrk.format(\"POST\", \"/v1/models/imdb:predict\", headers, bodies[i])\nend\n")


def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(port, script, duration):
    out = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % duration, "--latency", "-s", script,
                          "http://127.0.0.1:%d" % port], stdout=subprocess.PIPE, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad and int(bad.group(1)) > rps * duration / 100:
        sys.exit("wrk: %s non-2xx answers of %.0f requests: the benchmark is broken\n%s" % (bad.group(1), rps * duration, out))
    errs = re.search(r"Socket errors: (.*)", out)
    return dict(rps=rps, p50=ms(lat["50"]), p99=ms(lat["99"]), non2xx=int(bad.group(1)) if bad else 0,
                socket_errors=errs.group(1) if errs else "")


def serve_tcdist(args, run):
    port = free_port()
    p = subprocess.Popen([args.tcdist, "serve", "--model", "imdb=" + run, "--listen", "127.0.0.1:%d" % port,
                          "--quiet"], stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p, port


def serve_flask(args, run):
    port = free_port()
    env = dict(os.environ, TCD_MODEL=os.path.join(run, "model.h5"), OMP_NUM_THREADS="1")
    p = subprocess.Popen(["gunicorn", "-w", str(2 * os.cpu_count() + 1), "-b", "127.0.0.1:%d" % port, "--chdir", os.path.dirname(__file__),
                          "--log-level", "warning", "peer_flask:app"], env=env, stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p, port


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()


def timed(cmd, **kw):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--tcdist", default=os.path.join(ROOT, "build", "tcdist"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "bench", "results",
                                                  time.strftime("%Y-%m-%d", time.gmtime()) + "-serve.md"))
    args = ap.parse_args()
    tar = os.path.join(args.data, "imdb", "aclImdb_v1_nofeat.tar.gz")
    if not os.path.exists(tar):
        print("skip: IMDB not found at %s" % tar)
        return 0
    for tool in ("wrk", "gunicorn", "fasttext"):
        if not shutil.which(tool):
            print("skip: %s is not installed (bash launch/install-deps.sh --bench)" % tool)
            return 0
    work = tempfile.mkdtemp(prefix="tcd-bench-serve-")
    d = os.path.join(work, "imdb")
    subprocess.run([sys.executable, os.path.join(ROOT, "datasets", "imdb.py"), tar, d], check=True,
                   stdout=subprocess.DEVNULL)
    tc = args.tcdist
    subprocess.run([tc, "prepare", "-o", os.path.join(work, "train.h5"), os.path.join(d, "train.jsonl")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = os.path.join(work, "imdb-run")
    subprocess.run([tc, "train", "--data", os.path.join(work, "train.h5"), "--run-dir", run, "--epochs", "5",
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    test = [json.loads(l) for l in open(os.path.join(d, "test.jsonl"))]
    texts = [r["text"].replace("\n", " ").replace("\r", " ") for r in test]
    with open(os.path.join(work, "test.txt"), "w") as f:
        f.writelines(t + "\n" for t in texts)
    train = [json.loads(l) for l in open(os.path.join(d, "train.jsonl"))]
    with open(os.path.join(work, "train.ft"), "w") as f:
        f.writelines(ft_line(r["text"], r["label"]) for r in train)
    with open(os.path.join(work, "test.ft"), "w") as f:
        f.writelines(ft_line(t, "x").split(" ", 1)[1] for t in texts)
    subprocess.run(["fasttext", "supervised", "-input", os.path.join(work, "train.ft"), "-output",
                    os.path.join(work, "ft"), "-epoch", "5", "-thread", "2"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    short = [json.dumps({"instances": [" ".join(t.split()[:12])]}) for t in texts[:1000]]
    batch = [json.dumps({"instances": texts[i:i + 64]}) for i in range(0, 64 * 50, 64)]
    lua(os.path.join(work, "single.lua"), short)
    lua(os.path.join(work, "batch.lua"), batch)

    res = {k: [] for k in ("tcd_single", "tcd_batch", "flask_single", "flask_batch", "ft", "tcd_predict")}
    for rep in range(args.reps):
        for name, start in (("tcd", serve_tcdist), ("flask", serve_flask)):
            p, port = start(args, run)
            res[name + "_single"].append(wrk(port, os.path.join(work, "single.lua"), args.duration))
            res[name + "_batch"].append(wrk(port, os.path.join(work, "batch.lua"), args.duration))
            stop(p)
        res["ft"].append(len(texts) / timed(["fasttext", "predict", os.path.join(work, "ft.bin"),
                                             os.path.join(work, "test.ft")]))
        res["tcd_predict"].append(len(texts) / timed([tc, "predict", "--threads", "2", "--model", run,
                                                      os.path.join(work, "test.txt")], stderr=subprocess.DEVNULL))
        print("rep %d: tcdist %.0f req/s (p99 %.2f ms), flask %.0f req/s; batch docs/s tcdist %.0f, flask %.0f; "
              "offline docs/s fasttext %.0f, tcdist predict %.0f" % (
                  rep + 1, res["tcd_single"][-1]["rps"], res["tcd_single"][-1]["p99"], res["flask_single"][-1]["rps"],
                  res["tcd_batch"][-1]["rps"] * 64, res["flask_batch"][-1]["rps"] * 64, res["ft"][-1],
                  res["tcd_predict"][-1]), flush=True)

    med = lambda k, f: statistics.median(r[f] for r in res[k])
    medv = lambda k: statistics.median(res[k])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    errors = sum(r["non2xx"] for k in res if k.endswith(("single", "batch")) for r in res[k])
    rows = [
        ("single document, requests/s", med("tcd_single", "rps"), med("flask_single", "rps")),
        ("single document, p50 latency (ms)", med("tcd_single", "p50"), med("flask_single", "p50")),
        ("single document, p99 latency (ms)", med("tcd_single", "p99"), med("flask_single", "p99")),
        ("64 documents a request, documents/s", med("tcd_batch", "rps") * 64, med("flask_batch", "rps") * 64),
    ]
    with open(args.out, "w") as f:
        f.write("# tcdist serve against Flask/gunicorn + PyTorch and fastText\n\n")
        f.write("%s; %s, %d cores; %s; tcdist %s. Command: `python3 tests/bench/bench_serve.py --reps %d "
                "--duration %d`. wrk -t2 -c32, keep-alive, on the same cores as the server. Medians of %d runs; "
                "non-2xx answers in all runs: %d.\n\n" % (
                    time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), cpu, os.cpu_count(), platform.platform(),
                    subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                   text=True).stdout.strip(), args.reps, args.duration, args.reps, errors))
        f.write("| measure | tcdist serve | Flask + PyTorch | tcdist / peer |\n|---|---|---|---|\n")
        for name, a, b in rows:
            f.write("| %s | %.2f | %.2f | %.2f |\n" % (name, a, b, a / b))
        f.write("\nOffline, the 25,000 test reviews from a file (documents/s):\n\n"
                "| `fasttext predict` | `tcdist predict --threads 2` | tcdist serve, 64 a request |\n|---|---|---|\n"
                "| %.0f | %.0f | %.0f |\n\nServing over fastText offline: %.2f.\n\nEvery run:\n\n" % (
                    medv("ft"), medv("tcd_predict"), med("tcd_batch", "rps") * 64,
                    med("tcd_batch", "rps") * 64 / medv("ft")))
        for k in res:
            f.write("- %s: %s\n" % (k, json.dumps(res[k])))
    print(open(args.out).read())
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
