"""CD, Collaborative Distillation (Lee et al., ICDM 2019), with rank-based sampling."""

import torch
import torch.nn.functional as F

from recbole_rd.distill.base import (
    capped_int,
    DistillMethod,
    TeacherNeed,
    number,
    positive_int,
    positive_number,
    rank_weights,
    sample_positions,
    weight,
)


def soft_label_loss(student_scores, teacher_scores, tau, shift=0.0):
    """``sum_i BCE(sigmoid(s_i), q_i)`` with soft labels ``q_i = sigmoid((t_i + shift) / tau)``,
    averaged over rows: ``-[q log sigmoid(s) + (1 - q) log sigmoid(-s)]``."""
    labels = torch.sigmoid((teacher_scores + shift) / tau)
    return F.binary_cross_entropy_with_logits(student_scores, labels, reduction="none").sum(1).mean()


class CD(DistillMethod):
    """``L = L_R + cd_alpha * L_CD``: per instance ``cd_samples`` items drawn from the teacher's
    top ``cd_N`` with probability ``∝ exp(-rank / cd_T)`` (without replacement), and the
    student's scores of them fitted to the teacher's soft labels (:func:`soft_label_loss`).

    Config keys: ``cd_alpha``, ``cd_N``, ``cd_T``, ``cd_samples``, ``cd_tau``, ``cd_shift``.
    """

    name = "cd"
    part_names = ("L_R", "cd_alpha*L_CD")

    def __init__(self, config, n_items):
        super().__init__(config, n_items)
        self.alpha = weight(config, "cd_alpha")
        self.N = capped_int(config, "cd_N", n_items - 2)
        self.samples = capped_int(config, "cd_samples", self.N)
        self.tau = positive_number(config, "cd_tau")
        self.shift = number(config, "cd_shift")
        self.register_buffer("rank_weights", rank_weights(self.N, positive_number(config, "cd_T")), persistent=False)

    def teacher_need(self):
        return TeacherNeed(self.N, scores=True)

    def loss(self, student, interaction, teacher):
        ids, teacher_scores = teacher.of(interaction)
        picked = sample_positions(self.rank_weights, self.samples, len(ids))
        l_r, scores, _ = student.ranking_loss_and_scores(interaction, ids.gather(1, picked))
        return l_r, self.alpha * soft_label_loss(scores, teacher_scores.gather(1, picked), self.tau, self.shift)
