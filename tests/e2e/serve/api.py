#!/usr/bin/env python3
"""tcdist serve, every endpoint and error code, through curl and Python's http.client:
- health, server and model metadata (version = the model's params_sha256, step, labels), readiness;
- v2 infer (label, probabilities, top_k) and v1 :predict, with a per-item error for an empty text;
- /metrics in the Prometheus text format;
- 400 with the byte position, 404, 405 with Allow, 413 for a large body and for too many documents;
- bearer-token auth: 401 without or with a wrong token, health exempt;
- the server and `tcdist predict` give the same labels and probabilities on 300 texts, sent by 6
  concurrent http.client threads in requests of 1 to 17 documents (coalesced by the batcher), and
  the same document gets the same bits whatever it was batched with."""
import json, os, random, re, shutil, socket, struct, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import TCDIST, Server, fail, fixture, model_sha, tc, workdir

if not shutil.which("curl"):
    print("skip: curl is not installed (bash launch/install-deps.sh --tests)")
    sys.exit(77)

d = workdir()
run = fixture(d)
sha = model_sha(os.path.join(run, "model.h5"), d)
texts = [l.rstrip("\n") for l in open(os.path.join(d, "test.txt"))]
srv = Server(["--model", run, "--max-body", "65536", "--max-docs", "64", "--threads", "4"], d)
base = "http://127.0.0.1:%d" % srv.port


def curl(*args, data=None):
    """(status, body) of curl ARGS; data goes in through stdin (--data-binary @-)."""
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}"] + list(args)
    if data is not None:
        cmd += ["--data-binary", "@-", "-H", "Content-Type: application/json"]
    p = subprocess.run(cmd, input=data.encode() if isinstance(data, str) else data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        fail("curl %s: rc %d %s" % (" ".join(args), p.returncode, p.stderr.decode()))
    body, _, code = p.stdout.decode().rpartition("\n")
    return int(code), body


def expect(code, body, want, what):
    if code != want:
        fail("%s: HTTP %d, expected %d: %s" % (what, code, want, body[:300]))
    return json.loads(body) if body.strip().startswith("{") else body


# ---- every endpoint through curl ----
expect(*curl(base + "/v2/health/live"), 200, "live")
expect(*curl(base + "/v2/health/ready"), 200, "ready")
meta = expect(*curl(base + "/v2"), 200, "server metadata")
if meta["name"] != "tcdist":
    fail("server metadata: %r" % meta)
meta = expect(*curl(base + "/v2/models/news"), 200, "model metadata")
if meta["versions"] != [sha] or meta["parameters"]["version"] != sha:
    fail("model metadata: version %r, expected the model's params_sha256 %s" % (meta["versions"], sha))
if meta["parameters"]["labels"] != ["0", "1", "2"] or meta["parameters"]["step"] <= 0:
    fail("model metadata: labels/step %r" % meta["parameters"])
if [o["name"] for o in meta["outputs"]] != ["label", "probabilities"] or meta["inputs"][0]["datatype"] != "BYTES":
    fail("model metadata: inputs/outputs %r %r" % (meta["inputs"], meta["outputs"]))
expect(*curl(base + "/v2/models/news/ready"), 200, "model ready")
expect(*curl(base + "/v1/models/news"), 200, "v1 model status")

infer = {"id": "q1", "inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": texts[:2] + [""]}],
         "parameters": {"top_k": 2}}
r = expect(*curl("-X", "POST", base + "/v2/models/news/infer", data=json.dumps(infer)), 200, "infer")
outs = {o["name"]: o for o in r["outputs"]}
if r["id"] != "q1" or r["model_version"] != sha:
    fail("infer: id/model_version %r" % r)
if set(outs) != {"label", "probabilities", "top_k_labels", "top_k_probabilities", "error"}:
    fail("infer: outputs %r" % sorted(outs))
if outs["probabilities"]["shape"] != [3, 3] or outs["top_k_labels"]["shape"] != [3, 2]:
    fail("infer: shapes %r %r" % (outs["probabilities"]["shape"], outs["top_k_labels"]["shape"]))
if outs["error"]["data"][:2] != ["", ""] or "no tokens" not in outs["error"]["data"][2] or outs["label"]["data"][2] != "":
    fail("infer: the empty text should get a per-item error and leave the others: %r" % outs["error"])
p0 = outs["probabilities"]["data"][:3]
if abs(sum(p0) - 1) > 1e-5 or outs["label"]["data"][0] != str(p0.index(max(p0))):
    fail("infer: probabilities %r and label %r disagree" % (p0, outs["label"]["data"][0]))

r = expect(*curl("-X", "POST", base + "/v1/models/news:predict",
                 data=json.dumps({"instances": [texts[0], "", {"text": texts[1]}]})), 200, ":predict")
pr = r["predictions"]
if len(pr) != 3 or "error" not in pr[1] or pr[0]["label"] != outs["label"]["data"][0] or r["model_version"] != sha:
    fail(":predict: %r" % r)
if pr[0]["prob"] != outs["probabilities"]["data"][int(pr[0]["label"])]:
    fail(":predict and infer disagree on the same text: %r %r" % (pr[0], p0))

code, body = curl(base + "/metrics")
if code != 200:
    fail("metrics: %d" % code)
for want in ['tcdist_requests_total{endpoint="infer",code="200"} 1', "tcdist_request_duration_seconds_bucket",
             "tcdist_batch_documents_bucket", "tcdist_documents_total 4", "tcdist_documents_refused_total 2",
             'tcdist_model_info{model="news",version="%s"' % sha, 'tcdist_model_reloads_total{model="news",result="ok"} 0']:
    if want not in body:
        fail("metrics: no %r in\n%s" % (want, body))

# ---- errors ----
r = expect(*curl("-X", "POST", base + "/v2/models/news/infer", data='{"inputs": [{"name": "text",, }]}'), 400, "bad JSON")
if "at byte 29" not in r["error"]:  # the second comma, counting from 1
    fail("bad JSON: the error should name byte 29: %r" % r)
r = expect(*curl("-X", "POST", base + "/v2/models/news/infer",
                 data='{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1.0]}]}'), 400, "FP32 input")
if "datatype" not in r["error"]:
    fail("FP32 input: the error should name the field: %r" % r)
expect(*curl("-X", "POST", base + "/v1/models/news:predict", data='{"instances": "one"}'), 400, "instances not a list")
r = expect(*curl(base + "/v2/models/nosuch"), 404, "unknown model")
if "nosuch" not in r["error"] or "news" not in r["error"]:
    fail("unknown model: %r" % r)
expect(*curl("-X", "POST", base + "/v1/models/nosuch:predict", data='{"instances": ["a"]}'), 404, "unknown model (v1)")
expect(*curl(base + "/v3/nothing"), 404, "unknown path")
st, h, _ = srv.request("GET", "/v2/models/news/infer")
if st != 405 or h.get("allow") != "POST":
    fail("GET infer: %d, Allow %r" % (st, h.get("allow")))
st, h, _ = srv.request("DELETE", "/v2/health/live")
if st != 405 or "GET" not in h.get("allow", ""):
    fail("DELETE live: %d, Allow %r" % (st, h.get("allow")))
big = json.dumps({"instances": ["word " * 20000]})
r = expect(*curl("-X", "POST", base + "/v1/models/news:predict", data=big), 413, "body over --max-body")
r = expect(*curl("-X", "POST", base + "/v1/models/news:predict", "-H", "Transfer-Encoding: chunked", data=big), 413,
           "chunked body over --max-body")
r = expect(*curl("-X", "POST", base + "/v1/models/news:predict", data=json.dumps({"instances": ["a b"] * 65})), 413,
           "65 documents over --max-docs 64")
if "64" not in r["error"]:
    fail("too many documents: %r" % r)
expect(*curl(base + "/v2/health/live"), 200, "live after the errors")


def slow_post(port, path, body, headers=b"", pieces=4):
    """Status line of a POST whose body follows its headers in pieces 0.1 s apart, without waiting
    for an answer (as curl below 1 MiB): an answer sent before the body is read, and the connection
    closed under the sender, would show here as a broken pipe or a reset (a flaky curl rc 55 in CI)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n" % (path.encode(), headers, len(body)))
        for k in range(pieces):
            time.sleep(0.1)
            s.sendall(body[k * len(body) // pieces:(k + 1) * len(body) // pieces])
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n")[0].decode()
    except OSError as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        s.close()


for i in range(3):
    line = slow_post(srv.port, "/v1/models/news:predict", big.encode())
    if not line.startswith("HTTP/1.1 413"):
        fail("body over --max-body sent in pieces: want a 413 once the body is in, got %r" % line)
# a client that waits for "100 Continue" gets the 413 at once, and never sends the body
s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
s.sendall(b"POST /v1/models/news:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
          b"Content-Length: %d\r\n\r\n" % len(big))
line = s.recv(65536).split(b"\r\n")[0]
s.close()
if not line.startswith(b"HTTP/1.1 413"):
    fail("Expect: 100-continue over --max-body: want 413 before the body, got %r" % line)
print("ok: a body over --max-body gets its 413 after it is read (sent in pieces), or at once with Expect")
# a chunked body that never ends is read and dropped only up to 16 MiB past --max-body: then the
# connection closes under the sender (before, all 64 MiB were read)
s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
s.sendall(b"POST /v1/models/news:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
piece, sent = b"%x\r\n" % (1 << 20) + b"x" * (1 << 20) + b"\r\n", 0
try:
    for sent in range(64):
        s.sendall(piece)
    s.sendall(b"0\r\n\r\n")
    end = s.recv(65536).split(b"\r\n")[0]
except OSError:
    end = b"closed"
s.close()
if sent >= 63 and end != b"closed":
    fail("a 64 MiB chunked body over --max-body was read to its end (%r)" % end)
expect(*curl(base + "/v2/health/live"), 200, "live after an endless chunked body")
print("ok: an endless chunked body is cut after %d MiB" % sent)

# ---- the server and predict agree; batching does not change a document's bits ----
out = tc(["predict", "--model", run, "--json", "--top-k", "3", os.path.join(d, "test.txt")], d).splitlines()
want = [json.loads(l) for l in out]
got = [None] * len(texts)
bits = {}
lock = threading.Lock()
errors = []


def client(seed):
    rnd = random.Random(seed)
    c = srv.conn()
    order = list(range(len(texts)))
    rnd.shuffle(order)
    i = 0
    while i < len(order):
        idx = order[i:i + rnd.randint(1, 17)]
        i += len(idx)
        st, _, r = srv.json("POST", "/v1/models/news:predict", {"instances": [texts[j] for j in idx],
                                                                "parameters": {"top_k": 3}}, conn=c)
        if st != 200:
            errors.append("%d %r" % (st, r))
            return
        with lock:
            for j, p in zip(idx, r["predictions"]):
                key = json.dumps(p, sort_keys=True)
                if bits.setdefault(j, key) != key:
                    errors.append("document %d: %s in one batch, %s in another" % (j, bits[j], key))
                got[j] = p


threads = [threading.Thread(target=client, args=(s,)) for s in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail("concurrent clients: %s" % errors[:3])
f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
for j, (w, g) in enumerate(zip(want, got)):
    if "error" in w:
        if "error" not in g:
            fail("line %d: predict refused it, the server did not" % (j + 1))
        continue
    if g["label"] != w["label"] or ["%.6f" % f32(t["prob"]) for t in g["top"]] != ["%.6f" % t["prob"] for t in w["top"]]:
        fail("line %d: server %r, predict %r" % (j + 1, g, w))
m = srv.request("GET", "/metrics")[2].decode()
batches = int(re.search(r"^tcdist_batch_documents_count (\d+)", m, re.M).group(1))
docs = int(re.search(r"^tcdist_documents_total (\d+)", m, re.M).group(1))
print("ok: 6 concurrent clients x %d documents match predict; %d documents in %d forwards" % (len(texts), docs, batches))

# ---- auth ----
with open(os.path.join(d, "token"), "w") as f:
    f.write("s3cret-Token_42\n")
auth = Server(["--model", "news=" + run, "--token-file", "token", "--quiet"], d)
ab = "http://127.0.0.1:%d" % auth.port
code, body = curl("-i", ab + "/v2/models/news")
if not body.startswith("HTTP/1.1 401") or "www-authenticate: bearer" not in body.lower():
    fail("no token: %r" % body[:300])
expect(*curl("-H", "Authorization: Bearer wrong", ab + "/v2/models/news"), 401, "wrong token")
expect(*curl("-H", "Authorization: Bearer s3cret-Token_4", ab + "/v2/models/news"), 401, "a prefix of the token")
expect(*curl("-H", "Authorization: Bearer s3cret-Token_42x", ab + "/v2/models/news"), 401, "the token and more")
expect(*curl("-X", "POST", ab + "/v1/models/news:predict", data='{"instances": ["a"]}'), 401, "no token, POST")
line = slow_post(auth.port, "/v1/models/news:predict", json.dumps({"instances": texts[:200]}).encode())
if not line.startswith("HTTP/1.1 401"):
    fail("no token, a body sent in pieces: want a 401 once the body is in, got %r" % line)
expect(*curl("-H", "Authorization: Bearer s3cret-Token_42", ab + "/v2/models/news"), 200, "right token")
expect(*curl("-H", "Authorization: Bearer s3cret-Token_42", "-X", "POST", ab + "/v1/models/news:predict",
             data=json.dumps({"instances": texts[:3]})), 200, "right token, POST")
expect(*curl(ab + "/v2/health/live"), 200, "live without a token")
expect(*curl(ab + "/v2/health/ready"), 200, "ready without a token")
expect(*curl(ab + "/metrics"), 401, "metrics without a token")
if auth.stop() != 0:
    fail("the auth server did not exit 0 on SIGTERM")

# bad command lines: clear errors, no server; exit 2 for the command line itself (as every
# command's usage errors), 1 for what it names (a missing file, a port in use)
for args, want, rc in [(["--model", os.path.join(d, "missing")], "missing", 1),
                       (["--model", run, "--token-file", "nofile"], "nofile", 1),
                       (["--model", run, "--listen", "127.0.0.1"], "HOST:PORT", 2),
                       (["--model", run, "--listen", "300.1.1.1:80"], "300.1.1.1", 2),
                       (["--model", run, "--listen", "127.0.0.1:99999"], "99999", 2),
                       (["--model", run, "--listen", "127.0.0.1:%d" % srv.port], "cannot listen", 1),
                       (["--model", "a=" + run, "--model", "a=" + run], "twice", 2),
                       (["--model", "a b=" + run], "may use only letters", 2),
                       ([], "--model is required", 2)]:
    p = subprocess.run([TCDIST, "serve"] + args, cwd=d,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if p.returncode != rc or want not in p.stderr.decode():
        fail("serve %s: rc %d, stderr %r (expected rc %d and a message with %r)" % (" ".join(args), p.returncode,
                                                                                  p.stderr.decode(), rc, want))
open(os.path.join(d, "empty"), "w").close()
p = subprocess.run([TCDIST, "serve", "--model", run, "--token-file", "empty"], cwd=d,
                   stderr=subprocess.PIPE, timeout=30)
if p.returncode == 0 or b"empty" not in p.stderr:
    fail("an empty token file should be refused: %r" % p.stderr)

log = "".join(srv.log)
if '"POST /v2/models/news/infer HTTP/1.1" 200' not in log:
    fail("no access log line for the infer request:\n%s" % log[-2000:])
if srv.stop() != 0:
    fail("the server did not exit 0 on SIGTERM")
shutil.rmtree(d)
print("ok: endpoints, errors, metrics, auth and predict agreement")
