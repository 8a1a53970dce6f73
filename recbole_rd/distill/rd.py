"""RD, Ranking Distillation (Tang & Wang, KDD 2018): the loss L_D, its weights and the method."""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_rd.distill.base import DistillMethod, TeacherNeed, check_key, is_int, is_number, uniform_items, weight

WEIGHTINGS = ("position", "discrepancy", "hybrid")


def position_weights(K, lam):
    """``w_a(r) = exp(-r/lambda) / sum_j exp(-j/lambda)`` for r = 1..K."""
    w = torch.exp(-torch.arange(1, K + 1, dtype=torch.float) / lam)
    return w / w.sum()


def estimate_student_rank(candidate_scores, sample_scores, n_items, same=None):
    """0-based rank of each candidate among ``n_items``, estimated from items sampled
    uniformly from the catalogue:
    ``floor((n_items - 1) * #{samples scored above} / epsilon)``. Shapes ``[B, K]``, ``[B, eps]``.
    ``same`` ``[B, K, eps]``: where a sample is the candidate itself, never counted as above
    (its two scores come from different kernels and may differ in the last bit)."""
    above = sample_scores.unsqueeze(1) > candidate_scores.unsqueeze(2)
    if same is not None:
        above &= ~same
    above = above.sum(2)
    return torch.floor((n_items - 1) * above.float() / sample_scores.size(1))


def discrepancy_weights(student_rank, mu):
    """``w_b(r) = max(0, tanh(mu * (rank_student - (r - 1))))`` for ``[B, K]`` ranks."""
    teacher_rank = torch.arange(student_rank.size(1), device=student_rank.device, dtype=student_rank.dtype)
    return torch.tanh(mu * (student_rank - teacher_rank)).clamp(min=0)


class RankingDistillationLoss(nn.Module):
    """``L_D = - sum_r w_r log sigmoid(score(pi_r))``, averaged over the batch.

    Config keys: ``K``, ``lambda``, ``mu``, ``epsilon``, ``weighting``
    (``position`` | ``discrepancy`` | ``hybrid``), ``dynamic_start_epoch`` (epochs
    before it use ``position``), ``renormalize_weights`` (hybrid weights to sum 1).
    """

    def __init__(self, K, lam, mu, epsilon, n_items, weighting="hybrid", dynamic_start_epoch=0, renormalize=False):
        super().__init__()
        check_key("K", K, is_int(K) and 0 < K < n_items - 1, f"an integer in 1..{n_items - 2} (items - 1)")
        check_key("lambda", lam, is_number(lam) and lam > 0, "a number > 0")
        check_key("mu", mu, is_number(mu) and mu >= 0, "a number >= 0")
        check_key("epsilon", epsilon, is_int(epsilon) and epsilon > 0, "an integer > 0")
        check_key("weighting", weighting, weighting in WEIGHTINGS, list(WEIGHTINGS))
        check_key("dynamic_start_epoch", dynamic_start_epoch,
                  is_int(dynamic_start_epoch) and dynamic_start_epoch >= 0, "an integer >= 0")
        self.K, self.mu, self.epsilon, self.n_items = K, mu, epsilon, n_items
        self.weighting, self.dynamic_start_epoch, self.renormalize = weighting, dynamic_start_epoch, renormalize
        self.register_buffer("w_position", position_weights(K, lam).unsqueeze(0), persistent=False)

    @classmethod
    def from_config(cls, config, n_items):
        return cls(config["K"], config["lambda"], config["mu"], config["epsilon"], n_items,
                   config["weighting"], config["dynamic_start_epoch"], bool(config["renormalize_weights"]))

    def is_dynamic(self, epoch):
        return self.weighting != "position" and epoch >= self.dynamic_start_epoch

    def weights(self, candidate_scores, sample_scores, epoch, same=None):
        """``[B, K]`` (or ``[1, K]`` for position-only) weights, no gradient."""
        if not self.is_dynamic(epoch):
            return self.w_position
        rank = estimate_student_rank(candidate_scores, sample_scores, self.n_items, same)
        w = discrepancy_weights(rank, self.mu)
        if self.weighting == "hybrid":
            w = w * self.w_position
            if self.renormalize:
                w = F.normalize(w, p=1, dim=1)
        return w

    def forward(self, candidate_scores, sample_scores, epoch, same=None):
        """``(L_D, weights)`` for the student's scores of the teacher's top-K ``[B, K]``
        and of ``epsilon`` sampled items ``[B, eps]`` (may be None while position-only);
        ``same``: see :func:`estimate_student_rank`."""
        with torch.no_grad():
            w = self.weights(candidate_scores, sample_scores, epoch, same)
        loss = -(w * F.logsigmoid(candidate_scores)).sum(1).mean()
        return loss, w


class RD(DistillMethod):
    """``L = L_R + alpha * L_D`` with L_D of :class:`RankingDistillationLoss` on the teacher's
    top-K. Config keys: ``alpha`` and those of :class:`RankingDistillationLoss`.
    Logs the mean sum of weights per instance (``mean weight``) each epoch."""

    name = "rd"
    variant_key, variants = "weighting", WEIGHTINGS
    part_names = ("L_R", "alpha*L_D")

    def __init__(self, config, n_items, room=None):
        super().__init__(config, n_items, room)
        self.alpha = weight(config, "alpha")
        self.loss_fn = RankingDistillationLoss.from_config(config, n_items)
        check_key("K", self.loss_fn.K, self.loss_fn.K <= self.room,
                  f"an integer in 1..{self.room} (the items every user has outside their training interactions)")
        self.weight_log = []

    def teacher_need(self):
        return TeacherNeed(self.loss_fn.K)

    def start_epoch(self, epoch, student, dataset, teacher):
        super().start_epoch(epoch, student, dataset, teacher)
        self.weight_log = []

    def loss(self, student, interaction, teacher):
        candidates = teacher.of(interaction)[0][:, :self.loss_fn.K]
        eps = self.loss_fn.epsilon if self.loss_fn.is_dynamic(self.epoch) else 0
        # one uniform sample shared by the batch: each row's rank estimate stays unbiased
        samples = uniform_items(self.n_items, (eps,), candidates.device)
        l_r, cand_scores, sample_scores = student.ranking_loss_and_scores(interaction, candidates, samples)
        same = candidates.unsqueeze(2) == samples.view(1, 1, -1) if eps else None
        l_d, weights = self.loss_fn(cand_scores, sample_scores, self.epoch, same)
        self.weight_log.append(weights.sum(1).mean().item())
        return l_r, self.alpha * l_d

    def epoch_stats(self):
        return {"mean weight": sum(self.weight_log) / max(1, len(self.weight_log))}

    def epoch_label(self):
        return f"rd, weighting={self.loss_fn.weighting if self.loss_fn.is_dynamic(self.epoch) else 'position'}"
