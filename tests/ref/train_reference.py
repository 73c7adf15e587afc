"""End-to-end reference: tcdist train (the real binary) against tests/ref/ref_bow.py (NumPy, float64)
for a few Adam steps from the same initial weights on a small corpus. Per-step losses and the final
parameters must agree to about 1e-5 relative.

Cases cover: binary (sigmoid) and 4-class (softmax), hidden layer and none, hashed bigrams, a last
partial batch, AdamW + gradient clipping + a cosine schedule with warmup."""
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5py  # noqa: E402
import numpy as np  # noqa: E402
from ref_bow import Adam, forward_backward  # noqa: E402

TCDIST = os.environ["TCDIST"]


def run(*args):
    r = subprocess.run([TCDIST, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: tcdist {' '.join(args)}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def make_corpus(path, n_docs, n_classes, seed):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)] + ["Hello", "world", "naïve", "café"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for _ in range(n_docs):
            y = rng.randrange(n_classes)
            n = rng.randint(1, 14)
            toks = [rng.choice(words[y * 5:y * 5 + 10] if rng.random() < 0.4 else words) for _ in range(n)]
            if rng.random() < 0.2:
                toks.append("!")
            f.write(" ".join(toks) + f"\tc{y}\n")


def params_of(path):
    with h5py.File(path, "r") as f:
        return {k: np.array(f["params"][k], dtype=np.float64) for k in f["params"]}


def check_case(tmp, name, n_classes, hidden, batch, epochs, extra_prepare, extra_train, wd=0.0, clip=0.0):
    tsv = os.path.join(tmp, f"{name}.tsv")
    h5 = os.path.join(tmp, f"{name}.h5")
    rd = os.path.join(tmp, f"run_{name}")
    make_corpus(tsv, 45, n_classes, seed=len(name))
    run("prepare", "--format", "tsv", "--min-count", "2", "-o", h5, tsv, *extra_prepare)
    run("train", "--data", h5, "--run-dir", rd, "--dim", "6", "--hidden", str(hidden), "--batch", str(batch),
        "--epochs", str(epochs), "--lr", "0.05", "--no-shuffle", "--log-every", "1", "--save-init", "--quiet",
        "--threads", "2", *extra_train)
    with h5py.File(h5, "r") as f:
        tok = np.array(f["tokens"])
        off = np.array(f["offsets"])
        lab = np.array(f["labels"])
    docs = [tok[off[i]:off[i + 1]] for i in range(len(lab))]
    p = params_of(os.path.join(rd, "init.h5"))
    recs = [json.loads(l) for l in open(os.path.join(rd, "metrics.jsonl"))]
    recs = [r for r in recs if r["type"] == "train"]
    opt = Adam(p, wd=wd)
    step = 0
    worst_loss = 0.0
    for _ in range(epochs):
        for s in range(0, len(docs), batch):
            bd, bl = docs[s:s + batch], lab[s:s + batch]
            loss, g = forward_backward(p, bd, bl, len(bd))
            if clip > 0:
                norm = np.sqrt(sum(float((v ** 2).sum()) for v in g.values()))
                if norm > clip:
                    g = {k: v * (clip / norm) for k, v in g.items()}
            rec = recs[step]
            assert rec["step"] == step + 1, rec
            mean_loss = loss / len(bd)
            rel = abs(rec["loss"] - mean_loss) / max(abs(mean_loss), 1e-12)
            worst_loss = max(worst_loss, rel)
            if rel > 2e-5:
                sys.exit(f"FAIL {name}: step {step + 1} loss tcdist {rec['loss']} numpy {mean_loss}")
            opt.step(p, g, rec["lr"])  # the schedule's value, as logged (the schedule has its own unit test)
            step += 1
    assert len(recs) == step, (len(recs), step)
    final = params_of(os.path.join(rd, "model.h5"))
    worst = 0.0
    for k in p:
        a, b = final[k], p[k]
        err = np.max(np.abs(a - b) / (np.abs(b) + 1e-3))
        worst = max(worst, err)
        if not np.all(np.abs(a - b) <= 1e-5 * np.abs(b) + 1e-7 + 2e-5 * np.abs(b).max()):
            i = np.argmax(np.abs(a - b))
            sys.exit(f"FAIL {name}: {k} differs: max |diff| {np.abs(a - b).max():.3g} at {i} "
                     f"(tcdist {a.flat[i]:.9g}, numpy {b.flat[i]:.9g})")
    print(f"ok {name}: {step} steps, worst loss rel diff {worst_loss:.2e}, worst param diff {worst:.2e}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_case(tmp, "binary_hidden", 2, 8, 8, 3, [], [])
        check_case(tmp, "multi_linear_bigram", 4, 0, 7, 2, ["--ngrams", "2", "--buckets", "11"], [])
        check_case(tmp, "multi_hidden_adamw", 4, 5, 16, 3, [],
                   ["--weight-decay", "0.01", "--clip-norm", "0.5", "--schedule", "cosine", "--warmup", "2"],
                   wd=0.01, clip=0.5)
    print("train_reference: all cases agree")


if __name__ == "__main__":
    main()
