"""Fossil (He & McAuley, ICDM 2016) as used by the Ranking Distillation paper."""

import torch
from torch import nn

from recbole_rd.model.abstract_recommender import WindowRecommender


class Fossil(WindowRecommender):
    r"""Similarity-based long-term preference plus a personalised order-``L`` Markov chain.

    ``score(u, S, j) = V_j . ( |I_u \ {j}|^-a sum_{i in I_u \ {j}} P_i
    + sum_{l=1..L} (eta_l + eta_{u,l}) P_{s_l} ) + b_j`` (the Fossil paper's
    normalisation: ``(|I_u| - 1)^-a`` for ``j`` in ``I_u``, ``|I_u|^-a`` otherwise, and no
    long-term term when ``I_u \ {j}`` is empty), where ``I_u`` is the user's history
    (``self.history``: the training items, or everything before an evaluation period)
    and ``s_1..s_L`` the last ``L`` items, most recent first.

    Config keys: ``embedding_size`` (d), ``L``, ``fossil_alpha`` (``a``, default 0.5),
    ``loss_type``, ``neg_samples``. RecBole's own ``FOSSIL`` is a different
    formulation (history limited to the sequence window); both stay available.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        d = self.embedding_size = config["embedding_size"]
        self.fossil_alpha = config["fossil_alpha"] if config["fossil_alpha"] is not None else 0.5
        self.item_in = nn.Embedding(self.n_items, d)
        self.item_out = nn.Embedding(self.n_items, d)
        self.item_bias = nn.Embedding(self.n_items, 1)
        self.eta = nn.Parameter(torch.zeros(self.L))
        self.user_eta = nn.Embedding(self.n_users, self.L)
        for emb in (self.item_in, self.item_out):
            nn.init.normal_(emb.weight, 0, 1.0 / d)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.user_eta.weight)

    def forward(self, user, window):
        """``(h, history_sum, scale_out, scale_in)``: ``h`` ``[B, d]`` is the state of items
        outside ``I_u`` (``|I_u|^-a`` times the sum of ``P_i`` over ``I_u``, plus the
        Markov term); ``history_sum`` and the scales ``|I_u|^-a``, ``(|I_u| - 1)^-a``
        (0 when ``I_u`` has one item) turn it into the state of an item inside ``I_u``."""
        row, items = self.history.rows(user)
        history_sum = torch.zeros(len(user), self.embedding_size, device=user.device)
        history_sum.index_add_(0, row, self.item_in(items))
        count = self.history.counts(user).float()
        scale_out = count.clamp(min=1).pow(-self.fossil_alpha)
        others = count - 1
        scale_in = torch.where(others > 0, others.clamp(min=1).pow(-self.fossil_alpha), torch.zeros_like(others))
        # window is oldest..newest; eta_1 weighs the most recent item
        weights = (self.eta.flip(0) + self.user_eta(user).flip(1)) * (window > 0)
        short_term = (weights.unsqueeze(2) * self.item_in(window)).sum(1)
        return scale_out.unsqueeze(1) * history_sum + short_term, history_sum, scale_out, scale_in

    def encode(self, interaction):
        return self.forward(interaction[self.USER_ID], self.window(interaction)), interaction[self.USER_ID]

    @staticmethod
    def _in_history_correction(state, row, out, own_in):
        """What to add to ``V_j . h + b_j`` for pairs (``row``, ``j``) with ``j`` in ``I_u``:
        ``V_j . ((|I_u|-1)^-a (sum - P_j) - |I_u|^-a sum)``; ``out``, ``own_in`` are ``V_j``, ``P_j``."""
        _, history_sum, scale_out, scale_in = state
        to_sum = (out * history_sum[row]).sum(-1)
        return (scale_in[row] - scale_out[row]) * to_sum - scale_in[row] * (out * own_in).sum(-1)

    def score(self, state, items):
        (h, *rest), user = state
        out = self.item_out(items)
        scores = (out * h.unsqueeze(1)).sum(-1) + self.item_bias(items).squeeze(-1)
        # the correction only where the item is in the user's history (few of the pairs)
        row, col = self.history.contains(user, items).nonzero(as_tuple=True)
        fix = self._in_history_correction((h, *rest), row, out[row, col], self.item_in(items[row, col]))
        return scores.index_put((row, col), scores[row, col] + fix)

    def score_shared(self, state, items):
        (h, *rest), user = state
        out = self.item_out(items)
        scores = torch.addmm(self.item_bias(items).t(), h, out.t())
        row, col = self.history.contains_shared(user, items).nonzero(as_tuple=True)
        fix = self._in_history_correction((h, *rest), row, out[col], self.item_in(items[col]))
        return scores.index_put((row, col), scores[row, col] + fix)

    def score_all(self, state):
        (h, *rest), user = state
        scores = torch.addmm(self.item_bias.weight.t(), h, self.item_out.weight.t())
        row, items = self.history.rows(user)
        fix = self._in_history_correction((h, *rest), row, self.item_out(items), self.item_in(items))
        # (row, item) pairs are unique: a plain in-place update, no accumulate (slow on CPU)
        scores[row, items] += fix
        return scores
