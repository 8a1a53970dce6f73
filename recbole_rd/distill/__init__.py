"""Distillation methods (one module each, registered by name) and the teacher pass they share."""

from recbole_rd.distill.base import METHODS, DistillMethod, TeacherNeed, build_method, method_class
from recbole_rd.distill.rd import (
    RankingDistillationLoss,
    discrepancy_weights,
    estimate_student_rank,
    position_weights,
)
from recbole_rd.distill.teacher import (
    INSTANCE_ID,
    TeacherRanking,
    load_teacher,
    teacher_ranking,
    teacher_topk,
)
from recbole_rd.distill.topk_cache import teacher_ranking_cached, teacher_topk_cached

__all__ = [
    "METHODS",
    "DistillMethod",
    "TeacherNeed",
    "build_method",
    "method_class",
    "RankingDistillationLoss",
    "discrepancy_weights",
    "estimate_student_rank",
    "position_weights",
    "INSTANCE_ID",
    "TeacherRanking",
    "load_teacher",
    "teacher_ranking",
    "teacher_ranking_cached",
    "teacher_topk",
    "teacher_topk_cached",
]
