#!/usr/bin/env python3
"""The PyTorch peer of the CNN benchmark: tcdist's `--model cnn` (Kim 2014, CNN-rand) in PyTorch CPU,
on the same token ids (read from tcdist's corpus files with h5py), for a documents/s comparison.

    python3 tests/bench/peer_torch_cnn.py TRAIN.h5 [TEST.h5] [--threads 2] [--batch 256] [--steps 100] [--wide]

Embedding(V, 128) -> Conv1d(128 -> 100, w) for w in 3, 4, 5 -> max over time -> ReLU -> concat ->
dropout 0.5 -> Linear(1) with BCE-with-logits (2 classes); Adam with Keras' eps 1e-7, lr decaying
linearly to 0 over the run, per-epoch shuffle. The same function as tcdist computes: each document
uses its first --max-len tokens; a batch is padded to its longest document (at least the widest
filter) with a zero, gradient-free embedding row, and the convolution outputs at windows past a
document's own positions are masked to -inf before the max, so a document's pooled features are
those of its real positions only (tcdist convolves only those). --wide: tcdist's `--wide 1`, each
convolution zero-padded by w - 1 at both ends, its windows past a document's last token + w - 1
masked. Prints one JSON line: wall_s (the
training loop), docs, docs_per_s, tokens (real positions), positions (padded, as convolved),
accuracy (on TEST.h5, or null)."""
import argparse
import json
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    with h5py.File(path, "r") as f:
        return (np.asarray(f["tokens"], dtype=np.int64), np.asarray(f["offsets"], dtype=np.int64),
                np.asarray(f["labels"], dtype=np.float32), int(f.attrs["n_embeddings"]))


class CNN(torch.nn.Module):
    def __init__(self, n_emb, dim, filters, widths, dropout, wide=False):
        super().__init__()
        self.wide = wide
        self.pad = n_emb
        self.emb = torch.nn.Embedding(n_emb + 1, dim, padding_idx=n_emb)
        with torch.no_grad():
            torch.nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.emb.weight[n_emb].zero_()
        self.widths = widths
        self.convs = torch.nn.ModuleList(torch.nn.Conv1d(dim, filters, w) for w in widths)
        for c in self.convs:
            torch.nn.init.xavier_uniform_(c.weight)
            torch.nn.init.zeros_(c.bias)
        self.drop = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(filters * len(widths), 1)
        torch.nn.init.xavier_uniform_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, ids, n_pos):
        """ids [B, Lp] (padded), n_pos [B]: each document's positions, max(len, widest filter)."""
        x = self.emb(ids).transpose(1, 2)  # [B, D, Lp]
        pooled = []
        for w, conv in zip(self.widths, self.convs):
            if self.wide:  # window t covers inputs t - w + 1 .. t; a document's last is n + w - 2
                y = F.conv1d(x, conv.weight, conv.bias, padding=w - 1)
                last = n_pos[:, None] + w - 2
            else:
                y = conv(x)  # [B, F, Lp - w + 1]
                last = n_pos[:, None] - w
            t = torch.arange(y.shape[2])
            y = y.masked_fill((t[None, :] > last)[:, None, :], float("-inf"))
            pooled.append(torch.relu(y.max(dim=2).values))
        return self.out(self.drop(torch.cat(pooled, dim=1))).squeeze(1)


def batch_of(tok, off, docs, max_len, wmax, pad):
    lens = np.minimum(off[docs + 1] - off[docs], max_len)
    n_pos = np.maximum(lens, wmax)
    ids = np.full((len(docs), int(n_pos.max())), pad, dtype=np.int64)
    for i, d in enumerate(docs):
        ids[i, :lens[i]] = tok[off[d]:off[d] + lens[i]]
    return torch.from_numpy(ids), torch.from_numpy(n_pos), int(lens.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train")
    ap.add_argument("test", nargs="?")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: one epoch)")
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--filters", type=int, default=100)
    ap.add_argument("--widths", default="3,4,5")
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--max-len", type=int, default=400)
    ap.add_argument("--wide", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    tok, off, lab, n_emb = load(args.train)
    n = len(lab)
    widths = [int(w) for w in args.widths.split(",")]
    wmax = 1 if args.wide else max(widths)  # wide: no document needs padding to the widest filter
    model = CNN(n_emb, args.dim, args.filters, widths, args.dropout, args.wide)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    per_epoch = (n + args.batch - 1) // args.batch
    steps = args.steps if args.steps > 0 else per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)
    rng = np.random.default_rng(args.seed)
    docs_done = tokens = positions = step = 0
    model.train()
    t0 = time.perf_counter()
    while step < steps:
        perm = rng.permutation(n)
        for s in range(0, n, args.batch):
            if step == steps:
                break
            docs = perm[s:s + args.batch]
            ids, n_pos, ntok = batch_of(tok, off, docs, args.max_len, wmax, n_emb)
            y = torch.from_numpy(lab[docs])
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(ids, n_pos), y)
            loss.backward()
            opt.step()
            sched.step()
            docs_done += len(docs)
            tokens += ntok
            positions += ids.numel()
            step += 1
    wall = time.perf_counter() - t0
    acc = None
    if args.test:
        ttok, toff, tlab, _ = load(args.test)
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(tlab), 512):
                docs = np.arange(s, min(s + 512, len(tlab)))
                ids, n_pos, _ = batch_of(ttok, toff, docs, args.max_len, wmax, n_emb)
                correct += int(((model(ids, n_pos) > 0).numpy() == (tlab[docs] > 0.5)).sum())
        acc = correct / len(tlab)
    print(json.dumps({"wall_s": wall, "steps": step, "docs": docs_done, "docs_per_s": docs_done / wall,
                      "tokens": tokens, "positions": positions, "accuracy": acc}))


if __name__ == "__main__":
    main()
