"""Base class of the RD paper's sequential models: a sequence state scored against items."""

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType

from recbole_rd.model.layers import UserHistory, right_align
from recbole_rd.utils import ConfigError

LOSS_TYPES = ("BCE", "BPR", "CE")


def _positive_int(config, key, default):
    value = config[key] if config[key] is not None else default
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
    return value


class WindowRecommender(SequentialRecommender):
    """A model that reads the user's last ``L`` items and scores items with one state.

    Subclasses implement ``encode(interaction) -> state``, ``score(state, items)``
    (``items`` is ``[B, n]``) and ``score_all(state)`` (``[B, n_items]``).

    Config keys: ``L`` (window, default 5), ``loss_type`` (``BCE`` as in the paper:
    binary cross-entropy on the target and ``neg_samples`` sampled unseen items;
    ``BPR``; ``CE`` over all items), ``neg_samples`` (default 3).
    Negatives are sampled here, so ``train_neg_sample_args`` must be ``~``.
    """

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.L = _positive_int(config, "L", 5)
        if self.L > self.max_seq_length:
            raise ConfigError(
                f"L: window {self.L} is longer than MAX_ITEM_LIST_LENGTH={self.max_seq_length}; "
                f"raise MAX_ITEM_LIST_LENGTH or lower L"
            )
        self.loss_type = str(config["loss_type"] or "BCE").upper()
        if self.loss_type not in LOSS_TYPES:
            raise ConfigError(f"loss_type: '{config['loss_type']}' is not one of {list(LOSS_TYPES)}")
        self.neg_samples = _positive_int(config, "neg_samples", 3)
        sampling = (config["train_neg_sample_args"] or {}).get("distribution", "none")
        if sampling not in (None, "none"):
            raise ConfigError(
                f"train_neg_sample_args: {type(self).__name__} samples its own negatives "
                f"(neg_samples); set 'train_neg_sample_args: ~' (got distribution={sampling!r})"
            )
        feat = dataset.inter_feat
        if self.ITEM_SEQ_LEN in feat and len(feat) and int(feat[self.ITEM_SEQ_LEN].max()) < self.L:
            raise ConfigError(
                f"L: window {self.L} is longer than every training history (at most "
                f"{int(feat[self.ITEM_SEQ_LEN].max())} items before a target); lower L or keep longer users "
                f"(user_inter_num_interval)")
        self.n_users = dataset.user_num
        self.history = UserHistory.from_dataset(dataset, self.USER_ID, self.ITEM_ID, self.ITEM_SEQ)

    def window(self, interaction):
        """``[B, L]`` last items of each sequence, most recent last."""
        return right_align(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], self.L)

    def encode(self, interaction):
        raise NotImplementedError

    def score(self, state, items):
        raise NotImplementedError

    def score_all(self, state):
        raise NotImplementedError

    def ranking_loss(self, state, interaction):
        """The model's own loss L_R on the observed target."""
        pos = interaction[self.POS_ITEM_ID].unsqueeze(1)
        if self.loss_type == "CE":
            return F.cross_entropy(self.score_all(state), pos.squeeze(1))
        neg = self.history.sample_negatives(interaction[self.USER_ID], self.neg_samples)
        pos_score, neg_score = self.score(state, torch.cat([pos, neg], 1)).split([1, self.neg_samples], 1)
        if self.loss_type == "BPR":
            return -F.logsigmoid(pos_score - neg_score).mean()
        return -(F.logsigmoid(pos_score).sum(1) + F.logsigmoid(-neg_score).sum(1)).mean()

    def calculate_loss(self, interaction):
        return self.ranking_loss(self.encode(interaction), interaction)

    def ranking_loss_and_scores(self, interaction, items):
        """L_R and the scores of extra ``items`` ``[B, n]`` from one forward pass."""
        state = self.encode(interaction)
        return self.ranking_loss(state, interaction), self.score(state, items)

    def predict(self, interaction):
        items = interaction[self.ITEM_ID].unsqueeze(1)
        return self.score(self.encode(interaction), items).squeeze(1)

    def full_sort_predict(self, interaction):
        return self.score_all(self.encode(interaction))
