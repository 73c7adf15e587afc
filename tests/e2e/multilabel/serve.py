"""tcdist serve with a one-vs-all (multi-label) model: the metadata says loss ova, v2 infer returns
each class's own probability (rows need not sum to 1) equal to `tcdist predict --threshold 0`'s,
and v1 predict and top_k answer as for any model."""
import json, os, shutil, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "serve"))
from servelib import Server, fail, tc, workdir  # noqa: E402

d = workdir()
try:
    tc(["synth", "--docs", "2000", "--classes", "5", "--labels-per-doc", "2", "--signal", "0.3", "--seed", "2",
        "--format", "fasttext", "-o", "train.ft"], d)
    tc(["prepare", "-o", "train.h5", "train.ft"], d)
    tc(["train", "--data", "train.h5", "--run-dir", "ml", "--epochs", "3", "--lr", "0.02", "--threads", "1",
        "--quiet"], d)
    texts = [line.split(" ", 2)[2].strip() for line in open(os.path.join(d, "train.ft")).readlines()[:8]]
    with open(os.path.join(d, "in.txt"), "w") as f:
        f.write("\n".join(texts) + "\n")
    want = [json.loads(l) for l in tc(["predict", "--model", "ml", "--json", "--threshold", "0", "in.txt"],
                                      d).splitlines()]
    s = Server(["--model", "ml", "--quiet"], d)
    try:
        st, _, meta = s.json("GET", "/v2/models/ml")
        if st != 200 or meta["parameters"].get("loss") != "ova":
            fail("metadata: %d %s" % (st, meta))
        body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}],
                "parameters": {"top_k": 2}}
        st, _, r = s.json("POST", "/v2/models/ml/infer", body)
        if st != 200:
            fail("infer: %d %s" % (st, r))
        out = {o["name"]: o for o in r["outputs"]}
        probs = out["probabilities"]["data"]
        if out["probabilities"]["shape"] != [len(texts), 5]:
            fail("probabilities shape %s" % out["probabilities"]["shape"])
        sums = [sum(probs[i * 5:(i + 1) * 5]) for i in range(len(texts))]
        if all(abs(x - 1) < 1e-3 for x in sums):
            fail("one-vs-all probabilities sum to 1: %s" % sums)
        for i, w in enumerate(want):
            got = {out["top_k_labels"]["data"][2 * i + j]: out["top_k_probabilities"]["data"][2 * i + j] for j in range(2)}
            for x in w["labels"][:2]:
                if abs(got.get(x["label"], -1) - x["prob"]) > 2e-6:
                    fail("doc %d: serve %s, predict %s" % (i, got, w["labels"][:2]))
            if out["label"]["data"][i] != w["labels"][0]["label"]:
                fail("doc %d: label %s, predict %s" % (i, out["label"]["data"][i], w["labels"][0]))
        st, _, r = s.json("POST", "/v1/models/ml:predict", {"instances": texts[:2]})
        if st != 200 or len(r["predictions"]) != 2:
            fail("v1 predict: %d %s" % (st, r))
    finally:
        if s.stop() != 0:
            fail("serve exit status")
    print("ok: serve answers a one-vs-all model like predict, with independent class probabilities")
finally:
    shutil.rmtree(d, ignore_errors=True)
