"""Shared by the serve tests: a trained fixture, and a real `tcdist serve` on a free loopback port."""
import atexit, http.client, json, os, shutil, signal, subprocess, sys, tempfile, threading, time

TCDIST = os.environ.get("TCDIST", "tcdist")
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
_servers = []  # every server this test started (workdir's cleanup stops those still running)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def tc(args, cwd, **kw):
    p = subprocess.run([TCDIST] + args, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        fail("tcdist %s: rc %d\n%s" % (" ".join(args), p.returncode, p.stderr.decode()))
    return p.stdout.decode()


def fixture(d, classes=3, seed=1, run="news", docs=1500):
    """A synthetic corpus, a model trained on it in d/RUN, and 300 test texts in d/test.txt."""
    if not os.path.exists(os.path.join(d, "train.h5")):
        tc(["synth", "--docs", str(docs), "--classes", str(classes), "--seed", "3", "-o", "train.tsv"], d)
        tc(["synth", "--docs", "300", "--classes", str(classes), "--seed", "3", "--part", "1", "-o", "test.tsv"], d)
        tc(["prepare", "--ngrams", "2", "--buckets", "2000", "-o", "train.h5", "train.tsv"], d)
        with open(os.path.join(d, "test.tsv")) as f, open(os.path.join(d, "test.txt"), "w") as g:
            next(f)
            for line in f:
                g.write(line.split("\t")[0] + "\n")
    tc(["train", "--data", "train.h5", "--run-dir", run, "--epochs", "2", "--dim", "16", "--hidden", "16",
        "--seed", str(seed), "--threads", "1", "--quiet"], d)
    return os.path.join(d, run)


def asan_build():
    """Is the binary built with AddressSanitizer (TCDIST_SANITIZE=ON)?"""
    path = TCDIST if os.sep in TCDIST else (shutil.which(TCDIST) or TCDIST)
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def model_sha(path, cwd):
    return json.loads(tc(["inspect", "--json", path], cwd))["params_sha256"]


class Server:
    """tcdist serve --listen 127.0.0.1:0 ARGS; its stderr lines are collected in self.log."""

    def __init__(self, args, cwd, timeout=30, env=None):
        self.p = subprocess.Popen([TCDIST, "serve", "--listen", "127.0.0.1:0"] + args, cwd=cwd, env=env or ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        _servers.append(self.p)
        self.log = []
        self.port = None
        t0 = time.time()
        for line in self.p.stderr:
            self.log.append(line)
            if "listening on http://" in line:
                self.port = int(line.split("http://")[1].split()[0].split(":")[1])
                break
            if time.time() - t0 > timeout:
                break
        if self.port is None:
            self.p.kill()
            fail("the server did not start: %s" % "".join(self.log))
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.p.stderr:
            self.log.append(line)

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def json(self, method, path, body=None, headers=None, conn=None):
        st, h, data = self.request(method, path, body, headers, conn)
        try:
            return st, h, json.loads(data)
        except ValueError:
            fail("%s %s: %d, not JSON: %r" % (method, path, st, data[:200]))

    def rss_kib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def wait_log(self, text, count=1, timeout=15):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if sum(text in l for l in list(self.log)) >= count:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                return self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                fail("the server did not exit within 30 s of SIGTERM")
        return self.p.returncode


def _cleanup(d):
    for p in _servers:  # a test that failed midway may have left its server running
        if p.poll() is None:
            p.kill()
            p.wait()
    if os.environ.get("TCDIST_KEEP_WORK"):
        print("kept the work folder: " + d)
    else:
        shutil.rmtree(d, ignore_errors=True)


def workdir():
    """A fresh folder for the test's files, removed when the test exits (pass or fail), with any
    server still running; TCDIST_KEEP_WORK=1 keeps it for a look."""
    d = tempfile.mkdtemp(prefix="tcd-serve-")
    atexit.register(_cleanup, d)
    return d
