"""Top-k items from the scorer exported beside this file: item tokens in, item tokens out.

Needs numpy and onnxruntime (``model.onnx``) or torch (``model.pt``); not RecBole, not recbole_rd. Copied
into every export folder by ``python -m recbole_rd.export``; the contract is that folder's README.md.

    python serve.py ITEM ITEM ...     # the top-k after these items (oldest first), these items excluded

    from serve import Scorer
    Scorer().recommend([["a", "b", "c"], ["d"]], users=["u1", "u2"])  # [[(token, score), ...], ...]
"""

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def padded(rows):
    """``int64 [len(rows), width]`` of the index lists ``rows``, left-aligned, 0 pads (width >= 1)."""
    out = np.zeros((len(rows), max([1, *map(len, rows)])), dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, :len(row)] = row
    return out


def runner(path, fmt, inputs):
    """``run(feed) -> (scores, items)`` numpy arrays, through onnxruntime or TorchScript."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda feed: session.run(None, feed)
    import torch

    module = torch.jit.load(str(path), map_location="cpu")

    def run(feed):
        with torch.no_grad():
            scores, items = module(*(torch.from_numpy(feed[name]) for name in inputs))
        return scores.numpy(), items.numpy()
    return run


class Scorer:
    """The exported model of ``folder`` (default: this file's folder), answering in tokens."""

    def __init__(self, folder=HERE):
        folder = Path(folder)
        read = lambda name: json.loads((folder / name).read_text(encoding="utf-8"))  # noqa: E731
        self.contract, self.items, self.users = read("contract.json"), read("items.json"), read("users.json")
        self.item_index = {token: i for i, token in enumerate(self.items) if i > 0}  # 0 is the padding item
        self.user_index = {token: i for i, token in enumerate(self.users) if i > 0}
        self.run = runner(folder / self.contract["file"], self.contract["format"], self.contract["inputs"])

    def indices(self, tokens):
        """Item indices of ``tokens``; tokens unknown at training are dropped."""
        return [self.item_index[token] for token in tokens if token in self.item_index]

    def recommend(self, recent, history=None, users=None, exclude_seen=True):
        """For each user, the top-k ``(item token, score)`` pairs, best first.

        ``recent``: each user's latest items, oldest first (the last ``max_item_seq_length`` are read);
        ``history``: every item each user has seen (default: ``recent``), read by models of the whole
        history (Fossil) and excluded when ``exclude_seen``; ``users``: user tokens (unknown: index 0).
        """
        longest = self.contract["max_item_seq_length"]
        recent = [self.indices(row)[-longest:] for row in recent]
        empty = [r for r, row in enumerate(recent) if not row]
        if empty:
            raise ValueError(f"users at positions {empty} have no recent item known to the model")
        history = recent if history is None else [self.indices(row) for row in history]
        users = [self.user_index.get(user, 0) for user in users] if users is not None else [0] * len(recent)
        feed = {"user": np.array(users, dtype=np.int64), "item_seq": padded(recent),
                "item_seq_len": np.array([len(row) for row in recent], dtype=np.int64),
                "history": padded(history), "exclude": padded(history if exclude_seen else [[]] * len(recent))}
        scores, items = self.run(feed)
        return [[(self.items[i], float(s)) for s, i in zip(row_scores, row_items) if s > -np.inf]
                for row_scores, row_items in zip(scores, items)]


if __name__ == "__main__":
    for token, score in Scorer().recommend([sys.argv[1:]])[0]:
        print(f"{token}\t{score:.6f}")
