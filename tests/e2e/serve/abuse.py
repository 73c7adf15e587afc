#!/usr/bin/env python3
"""10,000 malformed, truncated and oversized requests against tcdist serve, over raw sockets from
8 threads: garbage bytes, broken request lines, huge headers, bodies cut short, Content-Length
over --max-body, bad JSON, deep nesting, wrong types, invalid UTF-8, NUL bytes. Afterwards the
server still answers, every answered request got a 4xx (never a 5xx but 505 for HTTP/9.9), and its RSS is flat: it
grows by less than 4 MiB between the first 2,000 requests and the last 8,000 (in an
AddressSanitizer build, with its quarantine off: less than 8 MiB over the last 5,000)."""
import json, os, random, re, socket, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import ENV, Server, asan_build, fail, fixture, workdir

N = int(os.environ.get("TCD_ABUSE_N", "10000"))
d = workdir()
run = fixture(d, docs=600)
# Under AddressSanitizer freed memory waits in a quarantine (256 MB) before reuse, so the RSS grows
# whatever the server does: turn the quarantine off for this server and allow for ASan's shadow.
# Its allocator also takes longer to settle: measure from half way.
env, rss_slack, warm = ENV, 4096, N // 5
if asan_build():
    env = dict(ENV, ASAN_OPTIONS=ENV.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0")
    rss_slack, warm = 8192, N // 2
srv = Server(["--model", "m=" + run, "--quiet", "--threads", "4", "--max-body", "65536", "--max-docs", "256",
              "--timeout", "1"], d, env=env)


def post(path, body, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def cases(rnd):
    good = json.dumps({"instances": ["a b c"]}).encode()
    infer = b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1], "data": ["x"]}]}'
    kind = rnd.randrange(16)
    if kind == 0:
        return "garbage", bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 600)))
    if kind == 1:
        return "bad request line", b"GARBAGE /\x00\xff HTTP/9.9\r\n\r\n"
    if kind == 2:
        return "huge header", b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    if kind == 3:
        req = post(b"/v1/models/m:predict", good)
        return "cut short", req[: rnd.randint(1, len(req) - 1)]
    if kind == 4:
        return "over max-body", b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{"
    if kind == 5:
        body = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            body[rnd.randrange(len(body))] = rnd.randrange(256)
        return "mutated JSON", post(b"/v1/models/m:predict", bytes(body))
    if kind == 6:
        body = bytearray(infer)
        for _ in range(rnd.randint(1, 4)):
            body[rnd.randrange(len(body))] = rnd.randrange(256)
        return "mutated infer", post(b"/v2/models/m/infer", bytes(body))
    if kind == 7:
        return "deep nesting", post(b"/v1/models/m:predict", b"[" * 30000 + b"]" * 30000)
    if kind == 8:
        return "wrong types", post(b"/v2/models/m/infer", rnd.choice([
            b'{"inputs": 5}', b'{"inputs": [{"name": 1}]}', b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [-1], "data": []}]}',
            b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [9223372036854775807, 2], "data": ["a"]}]}',
            b'{"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1], "data": [null]}], "parameters": {"top_k": -1}}',
            b'null', b'"str"', b'{"instances": [1, 2]}', b'{}']))
    if kind == 9:
        return "invalid UTF-8", post(b"/v1/models/m:predict", b'{"instances": ["\xff\xfe bad"]}')
    if kind == 10:
        return "NUL in text", post(b"/v1/models/m:predict", b'{"instances": ["a\\u0000b"]}')
    if kind == 11:
        return "too many documents", post(b"/v1/models/m:predict", json.dumps({"instances": ["a"] * 257}).encode())
    if kind == 12:
        return "bad chunked", (b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               b"zz\r\n{}\r\n0\r\n\r\n")
    if kind == 13:
        return "long path", b"GET /v2/models/" + b"%41" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    if kind == 14:
        return "wrong method", b"PUT /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    return "empty body", post(b"/v2/models/m/infer", b"")


def complete(resp):
    """an answer's headers and Content-Length bytes of body are in (the server keeps the connection)"""
    head, sep, body = resp.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    return m is not None and len(body) >= int(m.group(1))


codes, slow = {}, {}
lock = threading.Lock()


def attack(seed, n):
    rnd = random.Random(seed)
    for _ in range(n):
        what, data = cases(rnd)
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        resp = b""
        t0 = time.time()
        try:
            s.sendall(data)
            # "cut short" and "garbage": a client that vanishes; the server's --timeout closes its side
            vanish = what in ("cut short", "garbage")
            if not vanish:
                s.shutdown(socket.SHUT_WR)
            while not vanish and not complete(resp):
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
        except OSError:  # reset, or closed by the server before we finished sending
            pass
        finally:
            s.close()
        m = re.match(rb"HTTP/1\.[01] (\d+)", resp)
        code = int(m.group(1)) if m else 0  # 0: closed without an answer, or not waited for
        with lock:
            codes.setdefault(what, {}).setdefault(code, 0)
            codes[what][code] += 1
            slow[what] = max(slow.get(what, 0), time.time() - t0)


def batch(n, seed0):
    per = n // 8
    ts = [threading.Thread(target=attack, args=(seed0 + k, per)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


batch(warm, 100)
rss0 = srv.rss_kib()
batch(N - warm, 200)
rss1 = srv.rss_kib()
if srv.p.poll() is not None:
    fail("the server died (rc %s)" % srv.p.returncode)
st, _, r = srv.json("POST", "/v1/models/m:predict", {"instances": ["a b c", "d e"]})
if st != 200 or len(r["predictions"]) != 2:
    fail("after the abuse: %d %r" % (st, r))
for what in sorted(codes):
    print("  %-20s %5.2fs %s" % (what, slow[what], " ".join("%s:%d" % ("closed" if k == 0 else k, v) for k, v in sorted(codes[what].items()))))
total = sum(sum(c.values()) for c in codes.values())
# 505 is the right answer to "HTTP/9.9"; any other 5xx is the server failing
bad = {w: c for w, c in codes.items() if any(k >= 500 and k != 505 for k in c)}
if bad:
    fail("5xx answers: %r" % bad)
for what in ["over max-body", "too many documents"]:
    if set(codes.get(what, {})) - {413}:
        fail("%s: expected 413 every time, got %r" % (what, codes[what]))
for what in ["deep nesting", "wrong types", "empty body"]:
    if set(codes.get(what, {})) - {400}:
        fail("%s: expected 400 every time, got %r" % (what, codes[what]))
if rss1 - rss0 > rss_slack:
    fail("RSS grew from %d KiB to %d KiB over the last %d requests" % (rss0, rss1, N - warm))
if srv.stop() != 0:
    fail("the server did not exit 0 on SIGTERM")
print("ok: %d malformed requests, no 5xx, RSS %d -> %d KiB, still answering" % (total, rss0, rss1))
