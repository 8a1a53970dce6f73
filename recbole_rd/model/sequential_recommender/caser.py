"""Caser (Tang & Wang, WSDM 2018) as used by the Ranking Distillation paper."""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_rd.model.abstract_recommender import WindowRecommender
from recbole_rd.model.layers import activation


class Caser(WindowRecommender):
    r"""Convolutional sequence embedding over the last ``L`` items.

    Horizontal filters (``nh`` per height 1..L, max-pooled) and vertical filters
    (``nv``) read the ``L x d`` embedding matrix; ``z = ac_fc(W1 [conv; dropout] + b1)``
    is concatenated with the user embedding and scored as ``W2_j . [z; P_u] + b2_j``.

    Config keys: ``embedding_size`` (d), ``L``, ``nh``, ``nv``, ``dropout_prob``,
    ``ac_conv`` (default ``iden``), ``ac_fc`` (default ``sigm``), ``loss_type``,
    ``neg_samples``. Unlike RecBole's ``Caser`` (last 50 items, CE loss), this is the
    paper's model; select RecBole's with ``--model=recbole.Caser``.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        d = self.embedding_size = config["embedding_size"]
        self.n_h, self.n_v = config["nh"], config["nv"]

        self.user_embedding = nn.Embedding(self.n_users, d)
        self.item_embedding = nn.Embedding(self.n_items, d)
        self.conv_v = nn.Conv2d(1, self.n_v, (self.L, 1))
        self.conv_h = nn.ModuleList([nn.Conv2d(1, self.n_h, (h, d)) for h in range(1, self.L + 1)])
        self.fc1 = nn.Linear(self.n_v * d + self.n_h * self.L, d)
        self.W2 = nn.Embedding(self.n_items, 2 * d)
        self.b2 = nn.Embedding(self.n_items, 1)
        self.dropout = nn.Dropout(config["dropout_prob"])
        self.ac_conv = activation("ac_conv", config["ac_conv"] or "iden")
        self.ac_fc = activation("ac_fc", config["ac_fc"] or "sigm")
        self._init_weights()

    def _init_weights(self):
        for emb in (self.user_embedding, self.item_embedding, self.W2):
            nn.init.normal_(emb.weight, 0, 1.0 / emb.embedding_dim)
        nn.init.zeros_(self.b2.weight)

    def forward(self, user, window):
        """``[B, 2d]`` state ``[z; P_u]`` for users and their ``[B, L]`` windows."""
        emb = self.item_embedding(window).unsqueeze(1)
        parts = []
        if self.n_v:
            parts.append(self.conv_v(emb).flatten(1))
        for conv in self.conv_h if self.n_h else []:
            out = self.ac_conv(conv(emb).squeeze(3))
            parts.append(F.max_pool1d(out, out.size(2)).squeeze(2))
        z = self.ac_fc(self.fc1(self.dropout(torch.cat(parts, 1))))
        return torch.cat([z, self.user_embedding(user)], 1)

    def encode(self, interaction):
        user = interaction[self.USER_ID]
        return self.forward(user, self.window(interaction)), user

    def score(self, state, items):
        # multiply-and-sum: forward + backward 1.7x faster than baddbmm at [512, 14, 200] (measured)
        return (self.W2(items) * state[0].unsqueeze(1)).sum(-1) + self.b2(items).squeeze(-1)

    def score_all(self, state):
        return self._score_rows(state, self.W2.weight, self.b2.weight)

    def score_shared(self, state, items):
        return self._score_rows(state, self.W2(items), self.b2(items))

    def _score_rows(self, state, weight, bias):
        """``[B, n]`` scores against item vectors ``weight`` ``[n, 2d]`` and ``bias`` ``[n, 1]``.

        Rows of the same user (consecutive, as in the teacher's pass over training
        instances) share ``P_u . W2_j[d:] + b_j``: computed once per user, which halves
        the product when users have many rows."""
        x, user = state
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():  # an exported graph: grouping is data-dependent
            return torch.addmm(bias.t(), x, weight.t())
        users, counts = torch.unique_consecutive(user, return_counts=True)
        if 2 * len(users) > len(user):
            return torch.addmm(bias.t(), x, weight.t())
        d = self.embedding_size
        per_user = torch.addmm(bias.t(), self.user_embedding(users), weight[:, d:].t())
        # one [B, n] buffer, filled in place (a second one costs ~16K page faults per block)
        return per_user.repeat_interleave(counts, dim=0).addmm_(x[:, :d], weight[:, :d].t())
