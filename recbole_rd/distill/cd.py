"""CD, Collaborative Distillation (Lee et al., ICDM 2019): rank-based sampling guided by the
teacher's ranking (teacher-guided) or by the student's (student-guided)."""

import torch
import torch.nn.functional as F

from recbole_rd.distill.base import (
    capped_int,
    check_key,
    DistillMethod,
    TeacherNeed,
    number,
    positive_int,
    positive_number,
    drawable_rank_weights,
    sample_positions,
    weight,
)
from recbole_rd.distill.dcd import refreshed_student_ranks

SAMPLINGS = ("teacher", "student")


def soft_label_loss(student_scores, teacher_scores, tau, shift=0.0):
    """``sum_i BCE(sigmoid(s_i), q_i)`` with soft labels ``q_i = sigmoid((t_i + shift) / tau)``,
    averaged over rows: ``-[q log sigmoid(s) + (1 - q) log sigmoid(-s)]``."""
    labels = torch.sigmoid((teacher_scores + shift) / tau)
    return F.binary_cross_entropy_with_logits(student_scores, labels, reduction="none").sum(1).mean()


def positions_by_rank(ranks):
    """``[rows, n]``: each item's 0-based position once its row is sorted by ``ranks`` (ascending;
    equal ranks keep the given, i.e. the teacher's, order)."""
    return ranks.argsort(dim=1, stable=True).argsort(dim=1)


class CD(DistillMethod):
    """``L = L_R + cd_alpha * L_CD``: per instance ``cd_samples`` items drawn without replacement
    from the teacher's top ``cd_N``, and the student's scores of them fitted to the teacher's soft
    labels (:func:`soft_label_loss`).

    ``cd_sampling: teacher`` draws rank r (the teacher's, 1-based) with probability
    ``∝ exp(-r / cd_T)``. ``cd_sampling: student`` uses the same weights on the student's ranking
    of those N items, re-ranked every ``cd_every`` epochs (ranked among themselves): rank r is then
    the item's place among the N in the student's order, so the items the student ranks highest
    are drawn most and the teacher's soft labels correct them.

    Config keys: ``cd_alpha``, ``cd_N``, ``cd_T``, ``cd_samples``, ``cd_tau``, ``cd_shift``,
    ``cd_sampling``, ``cd_every``.
    """

    name = "cd"
    part_names = ("L_R", "cd_alpha*L_CD")
    variant_key, variants = "cd_sampling", SAMPLINGS

    def __init__(self, config, n_items, room=None):
        super().__init__(config, n_items, room)
        self.alpha = weight(config, "cd_alpha")
        self.N = capped_int(config, "cd_N", self.room)
        self.samples = capped_int(config, "cd_samples", self.N)
        self.tau = positive_number(config, "cd_tau")
        self.shift = number(config, "cd_shift")
        self.register_buffer("rank_weights", drawable_rank_weights(config, "cd_T", self.N, "cd_samples", self.samples),
                             persistent=False)
        self.sampling = config["cd_sampling"]
        check_key("cd_sampling", self.sampling, self.sampling in SAMPLINGS, " or ".join(SAMPLINGS))
        self.every = positive_int(config, "cd_every")
        self.target_field = config["ITEM_ID_FIELD"]
        self.ranks = None  # student-guided: the student's ranks of the teacher's top-N among themselves

    def teacher_need(self):
        return TeacherNeed(self.N, scores=True)

    def start_epoch(self, epoch, student, dataset, teacher):
        super().start_epoch(epoch, student, dataset, teacher)
        if self.sampling == "student":
            # only the order of the N items counts: their ranks among themselves give it
            self.ranks = refreshed_student_ranks(self.ranks, epoch, self.every, student, dataset, teacher,
                                                 self.target_field, "CD", among=True)

    def sampling_weights(self, interaction, teacher):
        """The weights of the teacher's top-N positions: ``[N]`` (teacher-guided) or ``[B, N]``, for the
        batch's rows of ``teacher`` (its training instances, or a general student's users)."""
        if self.sampling == "teacher":
            return self.rank_weights
        return self.rank_weights[positions_by_rank(self.ranks[teacher.rows(interaction)])]

    def loss(self, student, interaction, teacher):
        ids, teacher_scores = teacher.of(interaction)
        picked = sample_positions(self.sampling_weights(interaction, teacher), self.samples, len(ids))
        l_r, scores, _ = student.ranking_loss_and_scores(interaction, ids.gather(1, picked))
        return l_r, self.alpha * soft_label_loss(scores, teacher_scores.gather(1, picked), self.tau, self.shift)

    def epoch_label(self):
        return self.name if self.sampling == "teacher" else f"{self.name}, student-guided"
