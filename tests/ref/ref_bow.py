"""An independent NumPy re-implementation of tcdist's bag-of-embeddings classifier and its Adam
step, in float64, for the end-to-end reference test. Written from the model's definition (docs/training.md,
'Models'), not from the C code.

    mean embedding of the document's ids -> [Dense(H) -> ReLU] -> Dense(O)
    O = 1: sigmoid + binary cross-entropy; O = C: softmax + cross-entropy
Tensors (as stored in the model file): embedding [V, D], hidden.weight [H, D], hidden.bias [H],
out.weight [O, H or D], out.bias [O]."""
import numpy as np


def forward_backward(p, docs, labels, n_global):
    """Loss SUM over the documents, and gradients of (sum / n_global)."""
    emb = p["embedding"]
    n = len(docs)
    x = np.zeros((n, emb.shape[1]))
    for i, d in enumerate(docs):
        if len(d):
            x[i] = emb[d].mean(axis=0)
    hidden = "hidden.weight" in p
    if hidden:
        a = x @ p["hidden.weight"].T + p["hidden.bias"]
        h = np.maximum(a, 0.0)
    else:
        h = x
    z = h @ p["out.weight"].T + p["out.bias"]
    y = np.asarray(labels)
    if z.shape[1] == 1:
        zz = z[:, 0]
        loss = np.sum(np.maximum(zz, 0) - zz * y + np.log1p(np.exp(-np.abs(zz))))
        prob = 1.0 / (1.0 + np.exp(-zz))
        dz = ((prob - y) / n_global)[:, None]
    else:
        m = z.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
        loss = np.sum(lse - z[np.arange(n), y])
        sm = np.exp(z - lse[:, None])
        onehot = np.zeros_like(z)
        onehot[np.arange(n), y] = 1.0
        dz = (sm - onehot) / n_global
    g = {k: np.zeros_like(v) for k, v in p.items()}
    g["out.weight"] = dz.T @ h
    g["out.bias"] = dz.sum(axis=0)
    dh = dz @ p["out.weight"]
    if hidden:
        da = dh * (a > 0)
        g["hidden.weight"] = da.T @ x
        g["hidden.bias"] = da.sum(axis=0)
        dx = da @ p["hidden.weight"]
    else:
        dx = dh
    for i, d in enumerate(docs):
        if len(d):
            np.add.at(g["embedding"], d, dx[i] / len(d))
    return loss, g


class Adam:
    """Keras' Adam: lr_t = lr sqrt(1-b2^t)/(1-b1^t); p -= lr_t m / (sqrt(v) + eps).
    AdamW: p -= lr * wd * p first (decoupled)."""

    def __init__(self, params, b1=0.9, b2=0.999, eps=1e-7, wd=0.0):
        self.b1, self.b2, self.eps, self.wd, self.t = b1, b2, eps, wd, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, p, g, lr):
        self.t += 1
        lr_t = lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for k in p:
            if self.wd:
                p[k] = p[k] - lr * self.wd * p[k]
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g[k]
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g[k] ** 2
            p[k] = p[k] - lr_t * self.m[k] / (np.sqrt(self.v[k]) + self.eps)
