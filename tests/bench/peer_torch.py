#!/usr/bin/env python3
"""The PyTorch peer of the training benchmark: tcdist's model and optimizer in PyTorch, on the same
token ids (read from tcdist's corpus files with h5py), for a tokens/s comparison.

    python3 tests/bench/peer_torch.py TRAIN.h5 TEST.h5 [--threads 2] [--epochs 5] [--seed 1]

EmbeddingBag(mean) -> Linear(16) -> ReLU -> Linear(1) with BCE-with-logits (2 classes), Adam with
Keras' eps 1e-7 (on sqrt(v), as tcdist), batch 192, lr 0.004 decaying linearly to 0, per-epoch
shuffle. Prints one JSON line: wall_s (training loop), tokens, tokens_per_s, accuracy."""
import argparse
import json
import time

import h5py
import numpy as np
import torch


def load(path):
    with h5py.File(path, "r") as f:
        return (np.asarray(f["tokens"], dtype=np.int64), np.asarray(f["offsets"], dtype=np.int64),
                np.asarray(f["labels"], dtype=np.float32), int(f.attrs["n_embeddings"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=192)
    ap.add_argument("--lr", type=float, default=0.004)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tok, off, lab, n_emb = load(args.train)
    n = len(lab)

    class BoW(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.EmbeddingBag(n_emb, 16, mode="mean")
            torch.nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.h = torch.nn.Linear(16, 16)
            self.o = torch.nn.Linear(16, 1)
            for lin in (self.h, self.o):
                torch.nn.init.xavier_uniform_(lin.weight)
                torch.nn.init.zeros_(lin.bias)

        def forward(self, t, o):
            return self.o(torch.relu(self.h(self.emb(t, o)))).squeeze(1)

    model = BoW()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    steps = args.epochs * ((n + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(args.seed)
    tokens = 0
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = rng.permutation(n)
        for s in range(0, n, args.batch):
            docs = perm[s:s + args.batch]
            lens = off[docs + 1] - off[docs]
            t = torch.from_numpy(np.concatenate([tok[off[d]:off[d + 1]] for d in docs]))
            o = torch.from_numpy(np.concatenate([[0], np.cumsum(lens)[:-1]]))
            y = torch.from_numpy(lab[docs])
            opt.zero_grad()
            loss = loss_fn(model(t, o), y)
            loss.backward()
            opt.step()
            sched.step()
            tokens += int(lens.sum())
    wall = time.perf_counter() - t0
    ttok, toff, tlab, _ = load(args.test)
    with torch.no_grad():
        z = model(torch.from_numpy(ttok), torch.from_numpy(toff[:-1]))
    acc = float(((z > 0).numpy() == (tlab > 0.5)).mean())
    print(json.dumps({"wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall, "accuracy": acc}))


if __name__ == "__main__":
    main()
