"""The exported graph: a trained model's top-k over all items for a batch of users, as one module of plain
int64 tensors in and out (no RecBole ``Interaction``, no package code at run time)."""

from contextlib import contextmanager

import torch
from torch import nn

from recbole_rd.errors import ConfigError

INPUTS = ("user", "item_seq", "item_seq_len", "history", "exclude")
OUTPUTS = ("scores", "items")

# model classes known not to export, and why (checked on the class, before anything is written)
SESSION_GRAPH = "it builds each session's graph with numpy, which a traced graph freezes to the example batch"
NOT_EXPORTABLE = {
    "SRGNN": SESSION_GRAPH,
    "GCSAN": SESSION_GRAPH,
    "BERT4Rec": "it writes its mask token into each sequence in a Python loop over the batch, which a traced "
                "graph freezes to the example batch",
}
FIX = "export Caser, Fossil, their students, or a RecBole sequential model such as SASRec, GRU4Rec or SASRecRD"


def refuse(model, why):
    raise ConfigError(f"export: {type(model).__name__} cannot be exported: {why}; {FIX}")


class InputFields(dict):
    """The fields a model reads from the exported graph's inputs; any other field is refused by name."""

    def __init__(self, model, fields):
        super().__init__(fields)
        self.model = model

    def __getitem__(self, field):
        if field not in self:
            refuse(self.model, f"its full_sort_predict reads the field '{field}', for which the exported graph "
                               f"has no input (it reads only {', '.join(self)})")
        return super().__getitem__(field)


def check_exportable(model):
    """Refuse, with the reason, a model the scorer cannot wrap (before anything is traced)."""
    for klass in type(model).__mro__:
        if klass.__name__ in NOT_EXPORTABLE:
            refuse(model, NOT_EXPORTABLE[klass.__name__])
    if not hasattr(model, "full_sort_predict") or not hasattr(model, "ITEM_SEQ"):
        refuse(model, "it is not a sequential model (its ranking reads no item sequence)")


class BatchHistory(nn.Module):
    """The item sets of this batch's users, from the graph's ``history`` input ``[B, h]`` (0 pads,
    duplicates allowed), with the reading interface of :class:`recbole_rd.sparse.UserHistory` that a model
    uses while scoring (``rows``, ``counts``; row ``b`` is the batch's user ``b``): Fossil's ``I_u``."""

    def __init__(self, history):
        super().__init__()
        items = history.sort(1).values
        first = torch.cat([torch.ones_like(items[:, :1], dtype=torch.bool), items[:, 1:] != items[:, :-1]], 1)
        self.items, self.kept = items, first & (items > 0)  # each item once, as UserHistory keeps it

    def counts(self, users):
        return self.kept.sum(1)

    def rows(self, users):
        row, col = self.kept.nonzero(as_tuple=True)
        return row, self.items[row, col]


def fossil_state(model, fields):
    """Fossil's ``encode`` for the exported graph: the same state as ``Fossil.forward``, with the history
    summed over the graph's ``history`` input (``Fossil.forward`` sizes its sum by ``len(user)``, which
    tracing freezes to the example's batch size). tests/test_export.py checks it against Fossil's scores."""
    user, window, history = fields[model.USER_ID], model.window(fields), model.history
    history_sum = (model.item_in(history.items) * history.kept.unsqueeze(2)).sum(1)
    count = history.counts(user).float()
    scale_out = count.clamp(min=1).pow(-model.fossil_alpha)
    others = count - 1
    scale_in = torch.where(others > 0, others.clamp(min=1).pow(-model.fossil_alpha), torch.zeros_like(others))
    weights = (model.eta.flip(0) + model.user_eta(user).flip(1)) * (window > 0)
    short_term = (weights.unsqueeze(2) * model.item_in(window)).sum(1)
    return (scale_out.unsqueeze(1) * history_sum + short_term, history_sum, scale_out, scale_in), user


GRAPH_STATES = {"Fossil": fossil_state}  # models whose own encode does not trace; the rest use full_sort_predict


def graph_state(model, fields):
    """The state ``model.score_all`` reads, for the models of :data:`GRAPH_STATES` (else None)."""
    for klass in type(model).__mro__:
        if klass.__name__ in GRAPH_STATES:
            return GRAPH_STATES[klass.__name__](model, fields)
    return None


@contextmanager
def reading_history(model, history):
    """Within the block, ``model`` (if it keeps a ``history``) reads the users' histories from ``history``."""
    if not isinstance(getattr(model, "history", None), nn.Module):
        yield
        return
    kept = model.history
    model.history = BatchHistory(history)
    try:
        yield
    finally:
        model.history = kept


class TopKScorer(nn.Module):
    """``(scores [B, k], items [B, k])`` of ``model``, best first, for int64 inputs of ``items.json`` /
    ``users.json`` indices: ``user [B]``, ``item_seq [B, n]`` (recent items, oldest first, left-aligned,
    0 pads), ``item_seq_len [B]``, ``history [B, h]`` (every item the user has seen, 0 pads: Fossil's
    ``I_u``) and ``exclude [B, e]`` (items never returned, 0 pads). Excluded items and the padding item 0
    score ``-inf``. Every model takes the five inputs, whether it reads them or not."""

    def __init__(self, model, k):
        super().__init__()
        check_exportable(model)
        self.model, self.k = model, k
        self.eval()

    def train(self, mode=True):
        """Always in eval mode (no dropout), whatever mode an exporter restores after tracing."""
        return super().train(False)

    def forward(self, user, item_seq, item_seq_len, history, exclude):
        model = self.model
        fields = InputFields(model, {model.USER_ID: user, model.ITEM_SEQ: item_seq, model.ITEM_SEQ_LEN: item_seq_len})
        with reading_history(model, history):
            state = graph_state(model, fields)
            scores = model.full_sort_predict(fields) if state is None else model.score_all(state)
        scores = scores.reshape(-1, model.n_items)
        scores = scores.scatter(1, exclude, float("-inf"))
        scores[:, 0] = float("-inf")
        values, items = torch.topk(scores, self.k)
        # keeps every input in the graph (the ONNX exporter drops unused ones) at the cost of [B, 1] adds
        unused = (user.unsqueeze(1) + item_seq_len.unsqueeze(1) + item_seq[:, :1] + history[:, :1] + exclude[:, :1])
        return values + unused.to(values.dtype) * 0, items
