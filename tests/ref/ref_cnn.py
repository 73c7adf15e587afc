"""PyTorch reference of --model cnn (Kim 2014): the same architecture built from torch.nn.functional,
loaded with tcdist's initial parameters (train --save-init: RUN_DIR/init.h5, read with h5py), on a
small corpus with documents longer than --max-len, shorter than the widest filter, and of one word;
with the default narrow convolution and with `--wide 1` (torch's zero padding of w - 1 positions).

- probabilities from tcdist's init.h5 (predict --data) agree with torch's to 1e-5 (the logits
  behind them: tcdist's step-1 loss, which is computed from the logits, agrees to 1e-5 relative);
- ten Adam steps (dropout 0, --no-shuffle, the same batches, Keras' Adam with eps added to sqrt(v)
  and the learning rate tcdist logged for each step) give the same parameters to 1e-4 and the same
  per-step losses to 1e-5.

Torch runs in float64, so it is an independent check of tcdist's float32 kernels. Skips (exit 77)
when torch, numpy or h5py is missing."""
import json
import os
import random
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e.name} is not installed for {sys.executable} (Debian: apt-get install python3-torch python3-h5py)")
    sys.exit(77)

TCDIST = os.environ["TCDIST"]
torch.set_num_threads(1)


def run(*args):
    r = subprocess.run([TCDIST, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: tcdist {' '.join(args)}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def make_corpus(path, n_docs, n_classes, seed):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for i in range(n_docs):
            y = rng.randrange(n_classes)
            n = [1, 2, rng.randint(1, 4), rng.randint(3, 20)][i % 4]  # one word, shorter than 5, long
            toks = [rng.choice(words[y * 5:y * 5 + 10] if rng.random() < 0.5 else words) for _ in range(n)]
            f.write(" ".join(toks) + f"\tc{y}\n")


def params_of(path):
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["model_config"].decode() if isinstance(f.attrs["model_config"], bytes)
                         else f.attrs["model_config"])
        return cfg, {k: torch.tensor(np.array(f["params"][k]), dtype=torch.float64) for k in f["params"]}


def logits(p, cfg, doc):
    """One document: Embedding -> conv1d per width -> ReLU -> max over time -> concat -> Dense."""
    D, Fn, widths, max_len = cfg["dim"], cfg["filters"], cfg["widths"], cfg["max_len"]
    ids = torch.tensor(doc[:max_len], dtype=torch.long)
    x = p["embedding"][ids]                                   # [L, D]
    wmax = max(widths)
    wide = cfg.get("wide", 0)
    if x.shape[0] < wmax and not wide:                        # only a short document is padded
        x = torch.cat([x, torch.zeros(wmax - x.shape[0], D, dtype=x.dtype)])
    x = x.t().unsqueeze(0)                                    # [1, D, L]
    pooled = []
    for k, w in enumerate(widths):
        W = p[f"conv{k}.weight"].view(Fn, w, D).permute(0, 2, 1)  # [F, D, w] from [F, w*D]
        # wide (Kim's code): w - 1 zero positions at each end, so L + w - 1 windows
        y = F.relu(F.conv1d(x, W, p[f"conv{k}.bias"], padding=w - 1 if wide else 0))
        pooled.append(y.max(dim=2).values)
    h = torch.cat(pooled, dim=1)                              # [1, K*F]; dropout 0
    return F.linear(h, p["out.weight"], p["out.bias"])[0]


def loss_sum(p, cfg, docs, labels):
    z = torch.stack([logits(p, cfg, d) for d in docs])
    y = torch.tensor(labels, dtype=torch.long)
    if z.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(z[:, 0], y.to(z.dtype), reduction="sum")
    return F.cross_entropy(z, y, reduction="sum")


def probs_of(p, cfg, docs):
    with torch.no_grad():
        z = torch.stack([logits(p, cfg, d) for d in docs])
        if z.shape[1] == 1:
            q = torch.sigmoid(z[:, 0])
            return torch.stack([1 - q, q], dim=1).numpy()
        return torch.softmax(z, dim=1).numpy()


class Adam:
    """tcdist's (Keras') Adam: lr_t = lr sqrt(1-b2^t)/(1-b1^t); p -= lr_t m / (sqrt(v) + eps)."""

    def __init__(self, params, b1=0.9, b2=0.999, eps=1e-7):
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}

    def step(self, p, g, lr):
        self.t += 1
        lr_t = lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        for k in p:
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g[k]
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g[k] ** 2
            p[k] = p[k] - lr_t * self.m[k] / (self.v[k].sqrt() + self.eps)


def check_case(tmp, name, n_classes, steps, batch, extra=()):
    tsv, h5, rd = (os.path.join(tmp, f"{name}.{e}") for e in ("tsv", "h5", "run"))
    n_docs = steps * batch // 2  # two epochs
    make_corpus(tsv, n_docs, n_classes, seed=len(name))
    run("prepare", "--format", "tsv", "-o", h5, tsv)
    run("train", "--data", h5, "--run-dir", rd, "--model", "cnn", "--dim", "6", "--filters", "4", "--widths",
        "2,3,5", "--max-len", "9", "--dropout", "0", "--batch", str(batch), "--epochs", "2", "--lr", "0.01",
        "--no-shuffle", "--log-every", "1", "--save-init", "--quiet", "--threads", "2", *extra)
    with h5py.File(h5, "r") as f:
        tok, off, lab = np.array(f["tokens"]), np.array(f["offsets"]), np.array(f["labels"])
    docs = [tok[off[i]:off[i + 1]].tolist() for i in range(len(lab))]
    assert len(docs) == n_docs and max(map(len, docs)) > 9 and min(map(len, docs)) == 1
    cfg, p = params_of(os.path.join(rd, "init.h5"))
    assert cfg["kind"] == "cnn" and cfg["dropout"] == 0 and cfg["widths"] == [2, 3, 5], cfg
    assert cfg["wide"] == (1 if "--wide" in extra else 0), cfg

    # forward: tcdist's probabilities from the initial parameters against torch's
    out = os.path.join(tmp, f"{name}.pred.h5")
    run("predict", "--model", os.path.join(rd, "init.h5"), "--data", h5, "-o", out, "--quiet")
    with h5py.File(out, "r") as f:
        tp = np.array(f["probabilities"], dtype=np.float64)
    diff = np.abs(tp - probs_of(p, cfg, docs)).max()
    if not diff <= 1e-5:
        sys.exit(f"FAIL {name}: initial probabilities differ from torch by {diff:.3g}")

    # ten Adam steps
    recs = [r for r in map(json.loads, open(os.path.join(rd, "metrics.jsonl"))) if r["type"] == "train"]
    assert len(recs) == steps, len(recs)
    opt, worst_loss = Adam(p), 0.0
    for s in range(steps):
        lo = (s * batch) % n_docs
        bd, bl = docs[lo:lo + batch], lab[lo:lo + batch].tolist()
        q = {k: v.clone().requires_grad_(True) for k, v in p.items()}
        loss = loss_sum(q, cfg, bd, bl) / len(bd)
        loss.backward()
        rel = abs(recs[s]["loss"] - loss.item()) / max(abs(loss.item()), 1e-12)
        worst_loss = max(worst_loss, rel)
        if not rel <= 1e-5:
            sys.exit(f"FAIL {name}: step {s + 1} loss tcdist {recs[s]['loss']} torch {loss.item()}")
        opt.step(p, {k: v.grad for k, v in q.items()}, recs[s]["lr"])
    _, final = params_of(os.path.join(rd, "model.h5"))
    worst = 0.0
    for k in p:
        d = (final[k] - p[k]).abs().max().item()
        worst = max(worst, d)
        if not d <= 1e-4:
            sys.exit(f"FAIL {name}: {k} differs from torch by {d:.3g} after {steps} Adam steps")
    print(f"ok {name}: probabilities within {diff:.1e}; {steps} Adam steps: losses within {worst_loss:.1e} "
          f"relative, parameters within {worst:.1e}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check_case(tmp, "binary", 2, 10, 8)
        check_case(tmp, "four_classes", 4, 10, 6)
        check_case(tmp, "wide", 3, 10, 8, ("--wide", "1"))
    print("ref_cnn: tcdist's cnn agrees with PyTorch")


if __name__ == "__main__":
    main()
