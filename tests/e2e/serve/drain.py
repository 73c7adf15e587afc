#!/usr/bin/env python3
"""SIGTERM drains tcdist serve: a request in flight (its body half sent) when the signal comes is
still answered with its predictions; meanwhile new connections are refused and readiness answers
503 on a connection opened before; then the server exits 0. Also when the SIGTERM is taken by a
thread that a library started before main (OpenBLAS's pool, which blocks no signal): it too drains
and exits 0, where its default action used to end the server (exit -15)."""
import ctypes, json, os, signal, socket, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, fail, fixture, workdir

d = workdir()
run = fixture(d, docs=600)
srv = Server(["--model", "m=" + run, "--threads", "2"], d)

body = json.dumps({"instances": ["a b c d", "e f g"]}).encode()
head = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
inflight = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
inflight.sendall(head + body[:10])
idle = srv.conn()
st, _, _ = srv.request("GET", "/v2/health/ready", conn=idle)
if st != 200:
    fail("ready before SIGTERM: %d" % st)
time.sleep(0.3)

srv.p.send_signal(signal.SIGTERM)
if not srv.wait_log("draining"):
    fail("no 'draining' line after SIGTERM:\n%s" % "".join(srv.log))
try:
    socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()
    fail("a new connection was accepted while draining")
except ConnectionRefusedError:
    pass
st, h, _ = srv.request("GET", "/v2/health/ready", conn=idle)
if st != 503 or h.get("connection", "").lower() != "close":
    fail("ready while draining: %d, Connection %r (expected 503, close)" % (st, h.get("connection")))
if srv.p.poll() is not None:
    fail("the server exited with a request in flight")

inflight.sendall(body[10:])
resp = b""
while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
    chunk = inflight.recv(65536)
    if not chunk:
        break
    resp += chunk
if not resp.startswith(b"HTTP/1.1 200"):
    fail("the request in flight was not answered: %r" % resp[:300])
preds = json.loads(resp.split(b"\r\n\r\n", 1)[1])["predictions"]
if len(preds) != 2 or "label" not in preds[0]:
    fail("the request in flight: %r" % preds)
try:
    rc = srv.p.wait(timeout=20)
except Exception:
    fail("the server did not exit after draining")
if rc != 0 or not srv.wait_log("drained"):
    fail("exit %d after the drain:\n%s" % (rc, "".join(srv.log)))
print("ok: SIGTERM refused new connections, answered the request in flight, exited 0")

# SIGTERM to a thread that does not block it (the kernel picks such a thread for a process-wide
# signal whenever the main thread is not waiting for it): OpenBLAS with 2 threads starts its pool
# when the library loads, before main blocks the signals for the threads the server starts.
from servelib import ENV
srv = Server(["--model", "m=" + run, "--threads", "2"], d, env=dict(ENV, OPENBLAS_NUM_THREADS="2"))
pid = srv.p.pid
def blocks_term(tid):
    for line in open("/proc/%d/task/%d/status" % (pid, tid)):
        if line.startswith("SigBlk:"):
            return (int(line.split()[1], 16) >> (signal.SIGTERM - 1)) & 1
    return 1
open_threads = [int(t) for t in os.listdir("/proc/%d/task" % pid) if int(t) != pid and not blocks_term(int(t))]
if not open_threads:
    fail("no thread of the server leaves SIGTERM unblocked (OpenBLAS single-threaded?): nothing to test")
libc = ctypes.CDLL(None, use_errno=True)
if libc.tgkill(pid, open_threads[0], signal.SIGTERM) != 0:
    fail("tgkill: errno %d" % ctypes.get_errno())
try:
    rc = srv.p.wait(timeout=20)
except Exception:
    fail("SIGTERM to thread %d: the server did not exit" % open_threads[0])
if rc != 0 or not srv.wait_log("drained"):
    fail("SIGTERM to thread %d of %d open to it: exit %d (expected a drain and 0):\n%s"
         % (open_threads[0], len(open_threads), rc, "".join(srv.log)))
print("ok: SIGTERM taken by a library's thread (%d such threads) drained and exited 0" % len(open_threads))
