"""Ranking Distillation inside RecBole's training loop."""

import torch
from recbole.data.interaction import Interaction

from recbole_rd.distill.loss import RankingDistillationLoss
from recbole_rd.distill.teacher import INSTANCE_ID, load_teacher, teacher_topk_cached
from recbole_rd.trainer.trainer import SafeTrainer
from recbole_rd.utils import ConfigError


class DistillTrainer(SafeTrainer):
    """Trains a student with ``L = L_R + alpha * L_D`` from a frozen teacher's top-K.

    The teacher comes from ``teacher_checkpoint`` (any RecBole sequential model
    saved by recbole_rd, trained on the same dataset). Its top-K for every training
    instance is computed once, in chunks, and cached under ``topk_cache_dir``
    (default ``checkpoint_dir``). Config keys: ``teacher_checkpoint``, ``alpha``,
    ``K``, ``lambda``, ``mu``, ``epsilon``, ``weighting``, ``dynamic_start_epoch``,
    ``renormalize_weights``, ``topk_cache_dir``. Everything else is RecBole's Trainer.
    Per epoch it logs ``L_R``, ``alpha*L_D`` and the mean distillation weight.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        if not hasattr(model, "ranking_loss_and_scores"):
            raise ConfigError(f"model: {type(model).__name__} cannot be a distilled student; "
                              f"use CaserRD or FossilRD (students need ranking_loss_and_scores)")
        self.alpha, self.distill_loss = check_distillation_config(config, model.n_items)
        self.distill_loss = self.distill_loss.to(self.device)
        self.teacher = self.topk = None
        self.weight_log = []

    def prepare_teacher(self, train_data):
        """Load the teacher, compute or reuse its top-K, and tag training rows with their index."""
        dataset = train_data._dataset
        path = self.config["teacher_checkpoint"]
        if not path:
            raise ConfigError("teacher_checkpoint: no teacher given; pass --teacher_checkpoint=PATH "
                              "or run through run_recbole_rd, which trains the teacher first")
        self.teacher, _ = load_teacher(self.config, dataset, path)
        cache_dir = self.config["topk_cache_dir"] or self.config["checkpoint_dir"]
        topk, _ = teacher_topk_cached(self.teacher, path, dataset, self.distill_loss.K, self.device, cache_dir)
        self.topk = topk.to(self.device)
        if INSTANCE_ID not in dataset.inter_feat:
            dataset.inter_feat.update(Interaction({INSTANCE_ID: torch.arange(len(dataset))}))

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        if self.topk is None:
            self.prepare_teacher(train_data)
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self.epoch = epoch_idx
        self.weight_log = []
        losses = super()._train_epoch(train_data, epoch_idx, self.distillation_loss, show_progress)
        mode = self.distill_loss.weighting if self.distill_loss.is_dynamic(epoch_idx) else "position"
        self.logger.info(f"epoch {epoch_idx} distillation: L_R={losses[0]:.4f} alpha*L_D={losses[1]:.4f} "
                         f"(sums over batches) mean weight sum={sum(self.weight_log) / max(1, len(self.weight_log)):.4f} "
                         f"weighting={mode}")
        return losses

    def distillation_loss(self, interaction):
        """``(L_R, alpha * L_D)`` of one batch; RecBole sums and logs both parts."""
        model = self.model
        candidates = self.topk[interaction[INSTANCE_ID]]
        eps = self.distill_loss.epsilon if self.distill_loss.is_dynamic(self.epoch) else 0
        # one uniform sample shared by the batch: each row's rank estimate stays unbiased
        samples = model.history.sample_uniform(eps)
        l_r, cand_scores, sample_scores = model.ranking_loss_and_scores(interaction, candidates, samples)
        l_d, weights = self.distill_loss(cand_scores, sample_scores, self.epoch)
        self.weight_log.append(weights.sum(1).mean().item())
        return l_r, self.alpha * l_d


def check_distillation_config(config, n_items):
    """``(alpha, RankingDistillationLoss)``; raises ConfigError naming a bad key."""
    alpha = config["alpha"]
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
        raise ConfigError(f"alpha: {alpha!r} is invalid; allowed: a number >= 0")
    return float(alpha), RankingDistillationLoss.from_config(config, n_items)
