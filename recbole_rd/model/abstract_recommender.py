"""Base class of the RD paper's sequential models: a sequence state scored against items."""

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType

from recbole_rd.model.layers import right_align
from recbole_rd.recbole_registry import require_plugin_config
from recbole_rd.sparse import UserHistory
from recbole_rd.utils import ConfigError

LOSS_TYPES = ("BCE", "BPR", "CE")


def _positive_int(config, key, default):
    value = config[key] if config[key] is not None else default
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key}: must be a positive integer, got {value!r}")
    return value


class DistilledStudent:
    """Marks a model class as a distilled student: trained by ``DistillTrainer`` from a teacher of
    ``teacher_model`` (its base model's name) unless the config names another. Ask with
    :func:`is_student`, never by looking the attribute up."""

    teacher_model = None


def is_student(model_class):
    """Whether ``model_class`` is a distilled student (a :class:`DistilledStudent`)."""
    return isinstance(model_class, type) and issubclass(model_class, DistilledStudent)


class WindowRecommender(SequentialRecommender):
    """A model that reads the user's last ``L`` items and scores items with one state.

    Subclasses implement ``encode(interaction) -> state``, ``score(state, items)``
    (``items`` is ``[B, n]``) and ``score_all(state)`` (``[B, n_items]``).

    Config keys: ``L`` (window, default 5), ``loss_type`` (``BCE`` as in the paper:
    binary cross-entropy on the target and ``neg_samples`` sampled unseen items;
    ``BPR``; ``CE`` over all items), ``neg_samples`` (default 3).
    Negatives are sampled here, so ``train_neg_sample_args`` must be ``~``.

    ``self.history`` holds each user's training items (negative sampling, Fossil's
    ``I_u``); :meth:`history_for` scores with another history, e.g. everything
    before an evaluation period.
    """

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        if isinstance(self, DistilledStudent):
            require_plugin_config(config, type(self).__name__)
        super().__init__(config, dataset)
        self.L = _positive_int(config, "L", 5)
        if self.L > self.max_seq_length:
            raise ConfigError(
                f"L: window {self.L} is longer than MAX_ITEM_LIST_LENGTH={self.max_seq_length}; "
                f"raise MAX_ITEM_LIST_LENGTH or lower L"
            )
        if config["T"] not in (None, 1):
            raise ConfigError(f"T: only T=1 target per instance is supported so far (got {config['T']!r}); "
                              f"every later target is still a training instance of its own")
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

    @contextmanager
    def history_for(self, history):
        """Within the block, every user's history is ``history`` (a :class:`UserHistory`
        over the same users and items); the training history is restored after it.

        The paper protocol scores a period with everything the user visited before it
        (for the test period: training and validation items)."""
        if (history.n_items, len(history.indptr)) != (self.history.n_items, len(self.history.indptr)):
            raise ValueError(f"history_for: a history over {len(history.indptr) - 1} users and "
                             f"{history.n_items} items, the model has {len(self.history.indptr) - 1} and "
                             f"{self.history.n_items}")
        training = self.history
        self.history = history.to(training.indptr.device)
        try:
            yield self
        finally:
            self.history = training

    def window(self, interaction):
        """``[B, L]`` last items of each sequence, most recent last."""
        return right_align(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], self.L)

    def encode(self, interaction):
        raise NotImplementedError

    def score(self, state, items):
        raise NotImplementedError

    def score_all(self, state):
        raise NotImplementedError

    def score_shared(self, state, items):
        """``[B, n]`` scores of the same ``items`` ``[n]`` for every row: one matrix product,
        no ``[B, n, d]`` gather."""
        raise NotImplementedError

    def ranking_loss(self, state, interaction, extra_items=None):
        """The model's own loss L_R on the observed target, and the scores of
        ``extra_items`` ``[B, n]`` (or None) computed in the same scoring pass."""
        pos = interaction[self.POS_ITEM_ID].unsqueeze(1)
        n_extra = 0 if extra_items is None else extra_items.size(1)
        if self.loss_type == "CE":
            logits = self.score_all(state)
            extra = None if extra_items is None else logits.gather(1, extra_items)
            return F.cross_entropy(logits, pos.squeeze(1)), extra
        neg = self.history.sample_negatives(interaction[self.USER_ID], self.neg_samples)
        items = torch.cat([pos, neg] + ([extra_items] if n_extra else []), 1)
        pos_score, neg_score, extra = self.score(state, items).split([1, self.neg_samples, n_extra], 1)
        if self.loss_type == "BPR":
            loss = -F.logsigmoid(pos_score - neg_score).mean()
        else:
            loss = -(F.logsigmoid(pos_score).sum(1) + F.logsigmoid(-neg_score).sum(1)).mean()
        return loss, (extra if extra_items is not None else None)

    def calculate_loss(self, interaction):
        return self.ranking_loss(self.encode(interaction), interaction)[0]

    def ranking_loss_and_scores(self, interaction, items, frozen_items=None):
        """``(L_R, scores of items, scores of frozen_items)`` from one forward pass.

        ``items`` ``[B, n]`` are scored with the loss (gradients flow); ``frozen_items``
        ``[m]``, the same for every row (or None), without gradients.
        """
        state = self.encode(interaction)
        loss, scores = self.ranking_loss(state, interaction, items)
        if frozen_items is None or frozen_items.numel() == 0:
            return loss, scores, None
        with torch.no_grad():
            return loss, scores, self.score_shared(state, frozen_items)

    def predict(self, interaction):
        items = interaction[self.ITEM_ID].unsqueeze(1)
        return self.score(self.encode(interaction), items).squeeze(1)

    def full_sort_predict(self, interaction):
        return self.score_all(self.encode(interaction))
