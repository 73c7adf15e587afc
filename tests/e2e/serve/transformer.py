#!/usr/bin/env python3
"""tcdist serve with a --model transformer model: v1 :predict answers every text (one longer than
--max-len, one word, an unknown word) with the same labels and probabilities as `tcdist predict` on
the same model, and an empty text gets a per-item error, as for every kind."""
import json, os, shutil, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servelib import Server, fail, tc, workdir

d = workdir()
try:
    tc(["synth", "--docs", "600", "--classes", "3", "--seed", "3", "-o", "train.tsv"], d)
    tc(["prepare", "-o", "train.h5", "train.tsv"], d)
    tc(["train", "--data", "train.h5", "--run-dir", "run", "--model", "transformer", "--dim", "16", "--heads", "2",
        "--ffn", "24", "--max-len", "12", "--epochs", "1", "--threads", "1", "--quiet"], d)
    with open(os.path.join(d, "train.tsv")) as f:
        texts = [line.split("\t")[0] for line in list(f)[1:6]]
    texts += ["ge", "qqqqzzzz", " ".join(texts)]
    with open(os.path.join(d, "texts.txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    want = [json.loads(l) for l in tc(["predict", "--model", "run", "--json", "--top-k", "3", "texts.txt"], d).splitlines()]
    if len(want) != len(texts) or any("label" not in w for w in want):
        fail("predict: %r" % want)
    srv = Server(["--model", "m=run", "--quiet", "--threads", "1"], d)
    st, _, r = srv.json("POST", "/v1/models/m:predict", {"instances": texts + [""], "parameters": {"top_k": 3}})
    if st != 200 or len(r.get("predictions", [])) != len(texts) + 1:
        fail(":predict: %d %r" % (st, r))
    for w, p in zip(want, r["predictions"]):
        if w["label"] != p["label"] or abs(w["prob"] - p["prob"]) > 1e-6:
            fail("serve and predict disagree: %r %r" % (w, p))
    if "error" not in r["predictions"][-1]:
        fail("an empty text got no error: %r" % r["predictions"][-1])
    if srv.stop() != 0:
        fail("serve exited non-zero")
    print("ok: serve answers a transformer model as predict does (%d texts)" % len(texts))
finally:
    shutil.rmtree(d, ignore_errors=True)
