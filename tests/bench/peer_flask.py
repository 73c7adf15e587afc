"""The serving peer of bench_serve.py: what a user would otherwise write. tcdist's bag model, its
weights read from model.h5 with h5py, in PyTorch, behind Flask, run by gunicorn:

    TCD_MODEL=run/model.h5 gunicorn -w 5 -b 127.0.0.1:PORT --chdir tests/bench peer_flask:app

POST /v1/models/NAME:predict with {"instances": ["text", ...]} answers
{"predictions": [{"label", "prob"}]}, as tcdist serve does. Tokenization: lowercase, punctuation
split off, words looked up in the model's vocabulary (unknown: id 1) - tcdist-v1 for ASCII text
with unigram models (the benchmark's); not the exact rule for every script."""
import os
import re

import h5py
import numpy as np
import torch
from flask import Flask, jsonify, request

torch.set_num_threads(1)
PUNCT = re.compile(r"([^\w\s])")


def strings(g):
    b, o = np.asarray(g["bytes"]), np.asarray(g["offsets"])
    return [bytes(b[o[i]:o[i + 1]]).decode("utf-8") for i in range(len(o) - 1)]


with h5py.File(os.environ["TCD_MODEL"], "r") as f:
    P = {k: torch.from_numpy(np.asarray(f["params"][k], dtype=np.float32)) for k in f["params"]}
    VOCAB = {w: i for i, w in enumerate(strings(f["vocab/words"]))}
    LABELS = strings(f["label_names"])

emb = torch.nn.EmbeddingBag.from_pretrained(P["embedding"], mode="mean")
hidden = "hidden.weight" in P


def forward(ids, offsets):
    with torch.inference_mode():
        x = emb(ids, offsets)
        if hidden:
            x = torch.relu(x @ P["hidden.weight"].T + P["hidden.bias"])
        z = x @ P["out.weight"].T + P["out.bias"]
        if z.shape[1] == 1:
            p1 = torch.sigmoid(z[:, 0])
            return torch.stack([1 - p1, p1], 1)
        return torch.softmax(z, 1)


app = Flask(__name__)


@app.post("/v1/models/<name>:predict")
def predict(name):
    texts = request.get_json(force=True)["instances"]
    ids, offsets = [], []
    for t in texts:
        offsets.append(len(ids))
        words = PUNCT.sub(r" \1 ", t.lower()).split() or ["<pad>"]
        ids.extend(VOCAB.get(w, 1) for w in words)
    probs = forward(torch.tensor(ids), torch.tensor(offsets))
    best = probs.argmax(1)
    return jsonify({"predictions": [{"label": LABELS[int(c)], "prob": float(probs[i, c])} for i, c in enumerate(best)]})
