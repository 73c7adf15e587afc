#!/usr/bin/env python3
"""Hot reload of tcdist serve under continuous load (4 http.client threads, keep-alive), with 0
failed requests:
1. a new model is renamed over the served model.h5 (as training does): the new version shows in
   the metadata and in the answers;
2. a damaged model file (truncated) is renamed over it: refused with a log line, the old version
   keeps serving;
3. a model with another label set: refused the same way;
4. a good model again, then SIGHUP: reloaded both times.
Then /metrics counts 3 reloads ok and 2 refused."""
import os, re, shutil, signal, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, fail, fixture, model_sha, workdir

d = workdir()
v1 = fixture(d, seed=1, run="v1")
v2 = fixture(d, seed=2, run="v2")
os.mkdir(os.path.join(d, "other"))
other = fixture(os.path.join(d, "other"), classes=4, run="o")
sha1, sha2 = model_sha(os.path.join(v1, "model.h5"), d), model_sha(os.path.join(v2, "model.h5"), d)
if sha1 == sha2:
    fail("the two fixture models should differ")
served = os.path.join(d, "served")
os.mkdir(served)
shutil.copy(os.path.join(v1, "model.h5"), os.path.join(served, "model.h5"))
texts = [l.rstrip("\n") for l in open(os.path.join(d, "test.txt"))][:40]

srv = Server(["--model", served, "--quiet", "--threads", "4"], d)
stop = threading.Event()
stats = {"ok": 0, "failed": [], "versions": set()}
lock = threading.Lock()


def load(k):
    c = srv.conn()
    i = k
    while not stop.is_set():
        try:
            st, _, r = srv.json("POST", "/v2/models/served/infer",
                                {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2],
                                             "data": [texts[i % 40], texts[(i + 7) % 40]]}]}, conn=c)
            with lock:
                if st == 200 and len(r["outputs"][0]["data"]) == 2:
                    stats["ok"] += 1
                    stats["versions"].add(r["model_version"])
                else:
                    stats["failed"].append("%d %r" % (st, r))
        except Exception as e:  # a reset connection is a failed request too
            with lock:
                stats["failed"].append(repr(e))
            c = srv.conn()
        i += 1


def replace(src):
    """training's way: a copy beside the target, then an atomic rename over it"""
    tmp = os.path.join(served, "model.h5.tmp")
    shutil.copy(src, tmp)
    os.rename(tmp, os.path.join(served, "model.h5"))


def version():
    st, _, m = srv.json("GET", "/v2/models/served")
    return m["versions"][0]


def wait_version(want, what):
    t0 = time.time()
    while time.time() - t0 < 15:
        if version() == want:
            return
        time.sleep(0.05)
    fail("%s: the metadata still shows %s, expected %s" % (what, version(), want))


threads = [threading.Thread(target=load, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
time.sleep(0.5)

replace(os.path.join(v2, "model.h5"))
wait_version(sha2, "a new model renamed over model.h5")
time.sleep(0.3)

damaged = os.path.join(d, "damaged.h5")
with open(os.path.join(v1, "model.h5"), "rb") as f:
    data = f.read()
with open(damaged, "wb") as f:
    f.write(data[: len(data) // 2])
replace(damaged)
if not srv.wait_log("reload refused", 1):
    fail("a damaged model file was not refused with a log line:\n%s" % "".join(srv.log))
time.sleep(0.3)
if version() != sha2:
    fail("after the damaged file: serving %s, expected the old version %s" % (version(), sha2))

replace(os.path.join(other, "model.h5"))
if not srv.wait_log("reload refused", 2):
    fail("a model with another label set was not refused:\n%s" % "".join(srv.log))
if "another label set" not in "".join(srv.log):
    fail("the refusal should say why (another label set):\n%s" % "".join(srv.log))
time.sleep(0.3)
if version() != sha2:
    fail("after the other label set: serving %s, expected %s" % (version(), sha2))

replace(os.path.join(v1, "model.h5"))
wait_version(sha1, "the first model back")
srv.p.send_signal(signal.SIGHUP)
if not srv.wait_log("reloaded", 3):
    fail("SIGHUP did not reload:\n%s" % "".join(srv.log))
time.sleep(0.5)
stop.set()
for t in threads:
    t.join()

if stats["failed"]:
    fail("%d of %d requests failed during the reloads: %s" % (len(stats["failed"]), stats["ok"] + len(stats["failed"]),
                                                               stats["failed"][:3]))
if stats["versions"] != {sha1, sha2}:
    fail("the answers should come from both versions: %r" % stats["versions"])
m = srv.request("GET", "/metrics")[2].decode()
ok = re.search(r'tcdist_model_reloads_total\{model="served",result="ok"\} (\d+)', m)
refused = re.search(r'tcdist_model_reloads_total\{model="served",result="refused"\} (\d+)', m)
if not ok or not refused or (int(ok.group(1)), int(refused.group(1))) != (3, 2):
    fail("metrics: reloads ok/refused %s/%s, expected 3/2" % (ok and ok.group(1), refused and refused.group(1)))
if 'tcdist_model_info{model="served",version="%s"' % sha1 not in m:
    fail("metrics: tcdist_model_info should show %s" % sha1)
if srv.stop() != 0:
    fail("the server did not exit 0 on SIGTERM")
shutil.rmtree(d)
print("ok: %d requests during 5 reloads (3 done, 2 refused), 0 failed" % stats["ok"])
