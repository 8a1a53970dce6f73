"""The Ranking Distillation loss L_D and its weights (Tang & Wang, KDD 2018)."""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_rd.utils import ConfigError

WEIGHTINGS = ("position", "discrepancy", "hybrid")


def position_weights(K, lam):
    """``w_a(r) = exp(-r/lambda) / sum_j exp(-j/lambda)`` for r = 1..K."""
    w = torch.exp(-torch.arange(1, K + 1, dtype=torch.float) / lam)
    return w / w.sum()


def estimate_student_rank(candidate_scores, sample_scores, n_items):
    """0-based rank of each candidate among ``n_items``, estimated from items sampled
    uniformly from the catalogue:
    ``floor((n_items - 1) * #{samples scored above} / epsilon)``. Shapes ``[B, K]``, ``[B, eps]``."""
    above = (sample_scores.unsqueeze(1) > candidate_scores.unsqueeze(2)).sum(2)
    return torch.floor((n_items - 1) * above.float() / sample_scores.size(1))


def discrepancy_weights(student_rank, mu):
    """``w_b(r) = max(0, tanh(mu * (rank_student - (r - 1))))`` for ``[B, K]`` ranks."""
    teacher_rank = torch.arange(student_rank.size(1), device=student_rank.device, dtype=student_rank.dtype)
    return torch.tanh(mu * (student_rank - teacher_rank)).clamp(min=0)


def _check(key, value, ok, allowed):
    if not ok:
        raise ConfigError(f"{key}: {value!r} is invalid; allowed: {allowed}")


class RankingDistillationLoss(nn.Module):
    """``L_D = - sum_r w_r log sigmoid(score(pi_r))``, averaged over the batch.

    Config keys: ``K``, ``lambda``, ``mu``, ``epsilon``, ``weighting``
    (``position`` | ``discrepancy`` | ``hybrid``), ``dynamic_start_epoch`` (epochs
    before it use ``position``), ``renormalize_weights`` (hybrid weights to sum 1).
    """

    def __init__(self, K, lam, mu, epsilon, n_items, weighting="hybrid", dynamic_start_epoch=0, renormalize=False):
        super().__init__()
        _check("K", K, isinstance(K, int) and 0 < K < n_items - 1, f"an integer in 1..{n_items - 2} (items - 1)")
        _check("lambda", lam, isinstance(lam, (int, float)) and lam > 0, "a number > 0")
        _check("mu", mu, isinstance(mu, (int, float)) and mu >= 0, "a number >= 0")
        _check("epsilon", epsilon, isinstance(epsilon, int) and epsilon > 0, "an integer > 0")
        _check("weighting", weighting, weighting in WEIGHTINGS, list(WEIGHTINGS))
        _check("dynamic_start_epoch", dynamic_start_epoch,
               isinstance(dynamic_start_epoch, int) and dynamic_start_epoch >= 0, "an integer >= 0")
        self.K, self.mu, self.epsilon, self.n_items = K, mu, epsilon, n_items
        self.weighting, self.dynamic_start_epoch, self.renormalize = weighting, dynamic_start_epoch, renormalize
        self.register_buffer("w_position", position_weights(K, lam).unsqueeze(0), persistent=False)

    @classmethod
    def from_config(cls, config, n_items):
        return cls(config["K"], config["lambda"], config["mu"], config["epsilon"], n_items,
                   config["weighting"], config["dynamic_start_epoch"], bool(config["renormalize_weights"]))

    def is_dynamic(self, epoch):
        return self.weighting != "position" and epoch >= self.dynamic_start_epoch

    def weights(self, candidate_scores, sample_scores, epoch):
        """``[B, K]`` (or ``[1, K]`` for position-only) weights, no gradient."""
        if not self.is_dynamic(epoch):
            return self.w_position
        w = discrepancy_weights(estimate_student_rank(candidate_scores, sample_scores, self.n_items), self.mu)
        if self.weighting == "hybrid":
            w = w * self.w_position
            if self.renormalize:
                w = F.normalize(w, p=1, dim=1)
        return w

    def forward(self, candidate_scores, sample_scores, epoch):
        """``(L_D, weights)`` for the student's scores of the teacher's top-K ``[B, K]``
        and of ``epsilon`` sampled items ``[B, eps]`` (may be None while position-only)."""
        with torch.no_grad():
            w = self.weights(candidate_scores, sample_scores, epoch)
        loss = -(w * F.logsigmoid(candidate_scores)).sum(1).mean()
        return loss, w
