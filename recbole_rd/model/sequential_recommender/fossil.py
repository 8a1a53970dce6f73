"""Fossil (He & McAuley, ICDM 2016) as used by the Ranking Distillation paper."""

import torch
from torch import nn

from recbole_rd.model.abstract_recommender import WindowRecommender


class Fossil(WindowRecommender):
    r"""Similarity-based long-term preference plus a personalised order-``L`` Markov chain.

    ``score(u, S, j) = V_j . ( |I_u|^-a sum_{i in I_u, i != j} P_i
    + sum_{l=1..L} (eta_l + eta_{u,l}) P_{s_l} ) + b_j`` where ``I_u`` is the user's
    training history and ``s_1..s_L`` the last ``L`` items, most recent first.

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
        """``(h, scale)``: state ``[B, d]`` including every history item, and the
        per-user ``|I_u|^-a`` used to remove the scored item from its own history."""
        row, items = self.history.rows(user)
        long_term = torch.zeros(len(user), self.embedding_size, device=user.device)
        long_term.index_add_(0, row, self.item_in(items))
        scale = self.history.counts(user).clamp(min=1).float().pow(-self.fossil_alpha)
        # window is oldest..newest; eta_1 weighs the most recent item
        weights = (self.eta.flip(0) + self.user_eta(user).flip(1)) * (window > 0)
        short_term = (weights.unsqueeze(2) * self.item_in(window)).sum(1)
        return scale.unsqueeze(1) * long_term + short_term, scale

    def encode(self, interaction):
        return self.forward(interaction[self.USER_ID], self.window(interaction)), interaction[self.USER_ID]

    def score(self, state, items):
        (h, scale), user = state
        out = self.item_out(items)
        scores = (out * h.unsqueeze(1)).sum(-1) + self.item_bias(items).squeeze(-1)
        # the own-item term only where the item is in the user's history (few of the pairs)
        row, col = self.history.contains(user, items).nonzero(as_tuple=True)
        own = scale[row] * (out[row, col] * self.item_in(items[row, col])).sum(-1)
        return scores.index_put((row, col), scores[row, col] - own)

    def score_shared(self, state, items):
        (h, scale), user = state
        out = self.item_out(items)
        own = (out * self.item_in(items)).sum(-1) * self.history.contains_shared(user, items)
        return torch.addmm(self.item_bias(items).t(), h, out.t()) - scale.unsqueeze(1) * own

    def score_all(self, state):
        (h, scale), user = state
        scores = torch.addmm(self.item_bias.weight.t(), h, self.item_out.weight.t())
        row, items = self.history.rows(user)
        self_sim = (self.item_out(items) * self.item_in(items)).sum(-1)
        # (row, item) pairs are unique: a plain in-place update, no accumulate (slow on CPU)
        scores[row, items] -= scale[row] * self_sim
        return scores
