#!/usr/bin/env python3
"""tcdist serve takes a tune's DIR/best as it is: v1 :predict answers with the labels and
probabilities of `tcdist predict --model DIR/best`."""
import json, os, shutil, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
from servelib import Server, fail, tc, workdir  # noqa: E402

d = workdir()
try:
    tc(["synth", "--docs", "500", "--classes", "3", "--seed", "7", "-o", "train.tsv"], d)
    tc(["prepare", "-o", "train.h5", "train.tsv"], d)
    tc(["tune", "--data", "train.h5", "--run-dir", "t", "--trials", "3", "--max-epochs", "1", "--threads", "1",
        "--quiet"], d)
    with open(os.path.join(d, "train.tsv")) as f:
        texts = [line.split("\t")[0] for line in list(f)[1:5]]
    with open(os.path.join(d, "texts.txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    want = [json.loads(l) for l in tc(["predict", "--model", "t/best", "--json", "texts.txt"], d).splitlines()]
    srv = Server(["--model", "m=t/best", "--quiet", "--threads", "1"], d)
    st, _, r = srv.json("POST", "/v1/models/m:predict", {"instances": texts})
    if st != 200 or len(r.get("predictions", [])) != len(texts):
        fail(":predict: %d %r" % (st, r))
    for w, p in zip(want, r["predictions"]):
        if w["label"] != p["label"] or abs(w["prob"] - p["prob"]) > 1e-6:
            fail("serve and predict disagree on DIR/best: %r %r" % (w, p))
    srv.stop()
    print("ok: serve takes a tune's best/ as it is")
finally:
    shutil.rmtree(d, ignore_errors=True)
