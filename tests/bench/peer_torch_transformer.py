#!/usr/bin/env python3
"""The PyTorch peer of the transformer benchmark: tcdist's `--model transformer` in PyTorch CPU, on the
same token ids (read from tcdist's corpus files with h5py), for a documents/s comparison.

    python3 tests/bench/peer_torch_transformer.py TRAIN.h5 [TEST.h5] [--threads 2] [--batch 256] [--steps 100]

Token + learned position embeddings (dim 64, --max-len 256) -> 2 pre-LayerNorm blocks (4-head
self-attention; exact-GELU feed-forward of width 128; dropout 0.1 on both residual branches) -> final
LayerNorm -> mean over the real positions -> Linear(1) with BCE-with-logits (2 classes); Adam with
Keras' eps 1e-7, lr decaying linearly to 0 over the run, per-epoch shuffle. The same function as
tcdist computes: a batch is padded to its longest document, and the padded keys are masked out of
every softmax and the padded positions out of the mean, so a document's output is that of its own
positions (tcdist processes each document at its own length, without padding). Prints one JSON line:
wall_s (the training loop), docs, docs_per_s, tokens (real positions), positions (padded, as
computed), accuracy (on TEST.h5, or null)."""
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


class Block(torch.nn.Module):
    def __init__(self, dim, heads, ffn, dropout):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)
        self.qkv, self.proj = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)
        self.fc1, self.fc2 = torch.nn.Linear(dim, ffn), torch.nn.Linear(ffn, dim)
        self.drop = torch.nn.Dropout(dropout)
        for lin in (self.proj, self.fc1, self.fc2):
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)
        torch.nn.init.uniform_(self.qkv.weight, -(3.0 / dim) ** 0.5, (3.0 / dim) ** 0.5)
        torch.nn.init.zeros_(self.qkv.bias)

    def forward(self, x, key_bias):
        B, L, D = x.shape
        dh = D // self.h
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=2)
        q, k, v = (t.reshape(B, L, self.h, dh).transpose(1, 2) for t in (q, k, v))  # [B, H, L, dh]
        s = q @ k.transpose(2, 3) / dh ** 0.5 + key_bias  # padded keys at -inf
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, L, D)
        x = x + self.drop(self.proj(o))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))


class Transformer(torch.nn.Module):
    def __init__(self, n_emb, dim, heads, ffn, layers, dropout, max_len):
        super().__init__()
        self.pad = n_emb
        self.emb = torch.nn.Embedding(n_emb + 1, dim, padding_idx=n_emb)
        self.pos = torch.nn.Parameter(torch.empty(max_len, dim))
        with torch.no_grad():
            torch.nn.init.uniform_(self.emb.weight, -0.05, 0.05)
            self.emb.weight[n_emb].zero_()
            torch.nn.init.uniform_(self.pos, -0.05, 0.05)
        self.blocks = torch.nn.ModuleList(Block(dim, heads, ffn, dropout) for _ in range(layers))
        self.ln = torch.nn.LayerNorm(dim)
        self.out = torch.nn.Linear(dim, 1)
        torch.nn.init.xavier_uniform_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)

    def forward(self, ids, n_pos):
        """ids [B, Lp] (padded), n_pos [B]: each document's positions, max(len, 1)."""
        L = ids.shape[1]
        real = torch.arange(L)[None, :] < n_pos[:, None]  # [B, L]
        key_bias = torch.zeros(real.shape).masked_fill(~real, float("-inf"))[:, None, None, :]
        x = self.emb(ids) + self.pos[:L]
        for b in self.blocks:
            x = b(x, key_bias)
        y = self.ln(x) * real[:, :, None]
        return self.out(y.sum(dim=1) / n_pos[:, None]).squeeze(1)


def batch_of(tok, off, docs, max_len, pad):
    lens = np.minimum(off[docs + 1] - off[docs], max_len)
    n_pos = np.maximum(lens, 1)
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
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--max-len", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    tok, off, lab, n_emb = load(args.train)
    n = len(lab)
    model = Transformer(n_emb, args.dim, args.heads, args.ffn, args.layers, args.dropout, args.max_len)
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
            ids, n_pos, ntok = batch_of(tok, off, docs, args.max_len, n_emb)
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
                ids, n_pos, _ = batch_of(ttok, toff, docs, args.max_len, n_emb)
                correct += int(((model(ids, n_pos) > 0).numpy() == (tlab[docs] > 0.5)).sum())
        acc = correct / len(tlab)
    print(json.dumps({"wall_s": wall, "steps": step, "docs": docs_done, "docs_per_s": docs_done / wall,
                      "tokens": tokens, "positions": positions, "accuracy": acc}))


if __name__ == "__main__":
    main()
