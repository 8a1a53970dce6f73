"""RRD, Relaxed Ranking Distillation: the ranking half of DE-RRD (Kang et al., CIKM 2020)."""

import torch

from recbole_rd.distill.base import (
    capped_int,
    DistillMethod,
    TeacherNeed,
    positive_int,
    drawable_rank_weights,
    sample_positions,
    weight,
)
from recbole_rd.distill.teacher import targets_of


def relaxed_ranking_loss(ordered, others):
    """``-sum_k [ s_k - log( sum_{l>=k} exp s_l + sum_j exp o_j ) ]``, averaged over rows:
    the Plackett-Luce log-likelihood of ``ordered`` ``[B, K]`` (best first) ranked in that order
    above ``others`` ``[B, L]``, whose own order is left free. Computed in log space
    (``logcumsumexp``), so large scores never overflow."""
    tail = torch.logcumsumexp(ordered.flip(1), 1).flip(1)  # log sum_{l>=k} exp s_l
    return -(ordered - torch.logaddexp(tail, torch.logsumexp(others, 1, keepdim=True))).sum(1).mean()


def items_outside(excluded, n_items, k):
    """``[B, k]`` items drawn uniformly (with replacement) from the real items ``1..n_items-1``
    that are not in each row of ``excluded`` ``[B, m]`` (sorted real items; an item may repeat, as a
    general student's sampled negative that is also in the teacher's top-N does).

    Exact, without rejection: the u-th allowed item is ``u + 1 + #{excluded items e_i with
    e_i - 1 - i <= u}`` (``e_i - 1 - i`` allowed items lie below the i-th excluded one)."""
    rows, m = excluded.shape
    repeated = torch.zeros_like(excluded, dtype=torch.bool)
    repeated[:, 1:] = excluded[:, 1:] == excluded[:, :-1]
    if bool(repeated.any()):  # repeats move past every item (never counted below u); u spans each row's allowed items
        excluded = torch.where(repeated, n_items + torch.arange(m, device=excluded.device), excluded).sort(1).values
        allowed = n_items - 1 - m + repeated.sum(1, keepdim=True)
        u = (torch.rand(rows, k, device=excluded.device) * allowed).long().clamp(max=allowed - 1)
    else:
        u = torch.randint(0, n_items - 1 - m, (rows, k), device=excluded.device)
    below = excluded - 1 - torch.arange(m, device=excluded.device)
    return u + 1 + torch.searchsorted(below.contiguous(), u, right=True)


class RRD(DistillMethod):
    """``L = L_R + rrd_alpha * L_RRD``, with :func:`relaxed_ranking_loss` of ``rrd_K``
    interesting items, drawn per instance from the teacher's top ``rrd_N`` with probability
    ``∝ exp(-rank / rrd_T)`` and kept in the teacher's order, above ``rrd_L`` uninteresting
    items drawn uniformly outside that top-N (and the instance's target).

    Config keys: ``rrd_alpha``, ``rrd_N``, ``rrd_K``, ``rrd_L``, ``rrd_T``.
    """

    name = "rrd"
    part_names = ("L_R", "rrd_alpha*L_RRD")

    def __init__(self, config, n_items, room=None):
        super().__init__(config, n_items, room)
        self.alpha = weight(config, "rrd_alpha")
        self.L = positive_int(config, "rrd_L")
        self.N = capped_int(config, "rrd_N", self.room - 1)  # one item at least stays uninteresting
        self.K = capped_int(config, "rrd_K", self.N)
        self.target_field = config["ITEM_ID_FIELD"]
        self.register_buffer("rank_weights", drawable_rank_weights(config, "rrd_T", self.N, "rrd_K", self.K),
                             persistent=False)

    def teacher_need(self):
        return TeacherNeed(self.N)

    def sample(self, interaction, teacher):
        """``[B, K + L]``: the interesting items (teacher order), then the uninteresting ones."""
        ids = teacher.of(interaction)[0][:, :self.N]
        interesting = ids.gather(1, sample_positions(self.rank_weights, self.K, len(ids)))
        excluded = torch.cat([ids, targets_of(interaction, self.target_field)], 1).sort(1).values
        return torch.cat([interesting, items_outside(excluded, self.n_items, self.L)], 1)

    def ranking_loss(self, scores):
        """Unweighted L_RRD from the student's scores of :meth:`sample`'s items."""
        return relaxed_ranking_loss(scores[:, :self.K], scores[:, self.K:])

    def loss(self, student, interaction, teacher):
        l_r, scores, _ = student.ranking_loss_and_scores(interaction, self.sample(interaction, teacher))
        return l_r, self.alpha * self.ranking_loss(scores)
