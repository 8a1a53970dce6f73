"""DCD, Dual Correction strategy for Distillation (Lee & Kim, CIKM 2021): its user-side correction."""

import math
import time
from logging import getLogger

import torch

from recbole_rd import distributed
from recbole_rd.distill.base import (
    capped_int,
    DistillMethod,
    TeacherNeed,
    check_key,
    positive_int,
    positive_number,
    sample_positions,
    weight,
)
from recbole_rd.distill.rrd import RRD, relaxed_ranking_loss
from recbole_rd.distill.teacher import rows_per_block, scored_chunks
from recbole_rd.distill.user_teacher import user_scored_chunks

MIN_WEIGHT = 1e-5  # every item keeps a tiny chance, so K items can always be drawn
SATURATED_GAP = 20.0  # tanh(x) rounds to exactly 1.0 for x >= 20, in float32 and float64


def count_above(scores, values, cap=None):
    """``[rows, m]``: how many of each row's ``scores`` ``[rows, n]`` are strictly above each of
    its ``values`` ``[rows, m]`` (the 0-based rank of an item scored ``value``), at most ``cap``:
    exact below it. With a ``cap`` under ``n / 2`` only each row's top ``cap`` scores are sorted
    (a partial selection, several times faster than sorting all ``n``)."""
    if cap is None or 2 * cap >= scores.size(1):
        counts = scores.size(1) - torch.searchsorted(scores.sort(dim=1).values, values.contiguous(), right=True)
        return counts if cap is None else counts.clamp(max=min(cap, scores.size(1)))  # a cap of any size
    # every score above a value at or over the cap-th largest score is among the top cap
    ascending = scores.topk(cap, dim=1, sorted=False).values.sort(dim=1).values
    return cap - torch.searchsorted(ascending, values.contiguous(), right=True)


@torch.no_grad()
def student_ranks(student, dataset, ids, device, target_field, chunk_size=None, cap=None, among=False,
                  per_user=False):
    """``[instances, N]`` int32 0-based ranks, among all items but the padding item and the
    instance's targets, that ``student.full_sort_predict`` gives the items ``ids`` ``[instances, N]``
    (at most ``cap``: :func:`count_above`); with ``among``, ranks among the ``ids`` themselves
    (the same order, ties alike, without sorting all items). ``per_user``: the rows of ``ids`` are
    users (a general student), ranked among all items but their training items
    (:func:`~recbole_rd.distill.user_teacher.user_scored_chunks`).

    Scored in chunks of rows (memory: one chunk of scores and its sorted top ``cap``, or sorted
    copy); in DDP mode each rank ranks its shard and the shards are gathered, so every rank has
    all ranks."""
    n = len(ids) if per_user else len(dataset)
    first, stop = distributed.shard(n)
    ranks = torch.empty(stop - first, ids.size(1), dtype=torch.int32)
    was_training = student.training
    student.eval()
    try:
        chunk_size = chunk_size or rows_per_block(dataset.item_num)
        chunks = (user_scored_chunks if per_user else scored_chunks)(student, dataset, (first, stop), chunk_size,
                                                                     device, target_field)
        for offset, interaction, scores in chunks:
            rows = slice(first + offset, first + offset + len(interaction))
            wanted = ids[rows].to(scores.device).long()
            values = scores.gather(1, wanted)
            ranks[offset:offset + len(interaction)] = count_above(values if among else scores, values, cap).cpu()
    finally:
        student.train(was_training)
    return distributed.gather_shards(ranks, n)


def refreshed_student_ranks(ranks, epoch, every, student, dataset, teacher, target_field, name, **how):
    """``ranks`` as they are, or :func:`student_ranks` of ``teacher.ids`` (``how``: its ``cap`` or
    ``among``) anew on the first call (``ranks`` None) and every ``every`` epochs; on the teacher
    ranking's device."""
    if ranks is not None and epoch % every != 0:
        return ranks
    start = time.perf_counter()
    device = teacher.ids.device
    ranks = student_ranks(student, dataset, teacher.ids, device, target_field, per_user=teacher.per_user,
                          **how).to(device)
    getLogger().debug(f"{name}: student ranks of {len(ranks)} {'users' if teacher.per_user else 'instances'} in "
                      f"{time.perf_counter() - start:.1f} s")
    return ranks


def saturation_cap(N, T):
    """The student rank from which :func:`discrepancy_sampling_weights` of every top-``N`` item no
    longer changes: its gap ``(r_s - r_t) / T`` is then at least :data:`SATURATED_GAP`, where tanh
    is exactly 1. Ranks capped there give the weights of exact ranks, bit for bit."""
    return N - 1 + math.ceil(SATURATED_GAP * T)


def discrepancy_sampling_weights(student_rank, T):
    """``(under, over)`` weights ``[B, N]`` of the teacher's top-N (teacher ranks 0..N-1):
    ``tanh(max((r_s - r_t) / T, 0))`` for items the student ranks lower than the teacher
    (under-estimated), ``tanh(max((r_t - r_s) / T, 0))`` for items it ranks higher (over-
    estimated); each at least ``MIN_WEIGHT``."""
    teacher_rank = torch.arange(student_rank.size(1), device=student_rank.device, dtype=torch.float)
    gap = (student_rank.float() - teacher_rank) / T
    return torch.tanh(gap.clamp(min=0)).clamp(min=MIN_WEIGHT), torch.tanh((-gap).clamp(min=0)).clamp(min=MIN_WEIGHT)


class DCD(DistillMethod):
    """``L = L_R + dcd_alpha * L_DCD`` (``+ rrd_alpha * L_RRD`` with ``dcd_rrd: True``).

    Every ``dcd_every`` epochs the student ranks all items for every training instance and its
    ranks of the teacher's top ``dcd_N`` are compared with the teacher's. Per instance
    ``dcd_K`` under-estimated items and ``dcd_L`` over-estimated items are drawn
    (:func:`discrepancy_sampling_weights` with temperature ``dcd_T``, without replacement),
    and :func:`~recbole_rd.distill.rrd.relaxed_ranking_loss` ranks the under-estimated ones,
    in the teacher's order, above the over-estimated ones.

    Config keys: ``dcd_alpha``, ``dcd_N``, ``dcd_K``, ``dcd_L``, ``dcd_T``, ``dcd_every``,
    ``dcd_rrd`` (also RRD's loss, with the ``rrd_*`` keys; ``rrd_N`` at most ``dcd_N``).
    """

    name = "dcd"

    def __init__(self, config, n_items, room=None):
        super().__init__(config, n_items, room)
        self.alpha = weight(config, "dcd_alpha")
        self.N = capped_int(config, "dcd_N", self.room)
        self.K = capped_int(config, "dcd_K", self.N)
        self.L = capped_int(config, "dcd_L", self.N)
        self.T = positive_number(config, "dcd_T")
        self.every = positive_int(config, "dcd_every")
        with_rrd = config["dcd_rrd"]
        check_key("dcd_rrd", with_rrd, isinstance(with_rrd, bool) or with_rrd is None, "True or False")
        self.rrd = RRD(config, n_items, room) if with_rrd else None
        if self.rrd is not None:
            check_key("rrd_N", self.rrd.N, self.rrd.N <= self.N, f"at most dcd_N={self.N} with dcd_rrd: True")
        self.part_names = ("L_R", "dcd_alpha*L_DCD") + (("rrd_alpha*L_RRD",) if self.rrd else ())
        self.target_field = config["ITEM_ID_FIELD"]
        self.ranks = None

    def teacher_need(self):
        return TeacherNeed(self.N)

    def start_epoch(self, epoch, student, dataset, teacher):
        super().start_epoch(epoch, student, dataset, teacher)
        self.ranks = refreshed_student_ranks(self.ranks, epoch, self.every, student, dataset, teacher,
                                             self.target_field, "DCD", cap=saturation_cap(self.N, self.T))

    def loss(self, student, interaction, teacher):
        ids = teacher.of(interaction)[0]
        under, over = discrepancy_sampling_weights(self.ranks[teacher.rows(interaction)], self.T)
        items = [ids.gather(1, sample_positions(under, self.K, len(ids))),
                 ids.gather(1, sample_positions(over, self.L, len(ids)))]
        if self.rrd is not None:
            items.append(self.rrd.sample(interaction, teacher))
        l_r, scores, _ = student.ranking_loss_and_scores(interaction, torch.cat(items, 1))
        parts = (l_r, self.alpha * relaxed_ranking_loss(scores[:, :self.K], scores[:, self.K:self.K + self.L]))
        if self.rrd is not None:
            parts += (self.rrd.alpha * self.rrd.ranking_loss(scores[:, self.K + self.L:]),)
        return parts
