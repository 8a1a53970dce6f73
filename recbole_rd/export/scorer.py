"""The exported graph: a trained model's top-k over all items for a batch of users, as one module of plain
tensors (no RecBole Interaction, no package code at run time)."""

import torch
from torch import nn

from recbole_rd.errors import ConfigError

# why a model class cannot be exported (checked on the class, before anything is written)
NOT_EXPORTABLE = {
    "Fossil": "its score reads each user's whole item history through a sparse index (I_u), which the "
              "exported graph has no input for",
}


def check_exportable(model):
    """Refuse, with the reason, a model the scorer cannot wrap."""
    for klass in type(model).__mro__:
        if klass.__name__ in NOT_EXPORTABLE:
            raise ConfigError(f"export: {type(model).__name__} cannot be exported: "
                              f"{NOT_EXPORTABLE[klass.__name__]}; export Caser, CaserRD or a RecBole sequential "
                              f"model (SASRec, SASRecRD, GRU4Rec, ...) instead")
    if not hasattr(model, "full_sort_predict") or not hasattr(model, "ITEM_SEQ"):
        raise ConfigError(f"export: {type(model).__name__} cannot be exported: only sequential models "
                          f"(scored from each user's recent items) are")


class TopKScorer(nn.Module):
    """``(scores [B, k], items [B, k])`` of ``model`` for inputs ``user [B]``, ``item_seq [B, n]`` (the
    user's recent items, oldest first, left-aligned and zero-padded), ``item_seq_len [B]`` and
    ``exclude [B, e]`` (items never returned, e.g. those already seen; 0 pads). All int64 item and user
    indices of the exported ``items.json`` / ``users.json``; the padding item 0 is never returned."""

    def __init__(self, model, k):
        super().__init__()
        check_exportable(model)
        self.model, self.k = model.eval(), k

    def forward(self, user, item_seq, item_seq_len, exclude):
        model = self.model
        interaction = {model.USER_ID: user, model.ITEM_SEQ: item_seq, model.ITEM_SEQ_LEN: item_seq_len}
        scores = model.full_sort_predict(interaction)
        # every model takes the same four inputs (the exporter drops an unused one: SASRec reads no user)
        scores = scores + (user * 0).unsqueeze(1).to(scores.dtype)
        scores = scores.scatter(1, exclude, float("-inf"))
        scores[:, 0] = float("-inf")
        return torch.topk(scores, self.k)
