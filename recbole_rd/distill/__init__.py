from recbole_rd.distill.loss import (
    RankingDistillationLoss,
    discrepancy_weights,
    estimate_student_rank,
    position_weights,
)
from recbole_rd.distill.teacher import load_teacher, teacher_topk, teacher_topk_cached

__all__ = [
    "RankingDistillationLoss",
    "discrepancy_weights",
    "estimate_student_rank",
    "position_weights",
    "load_teacher",
    "teacher_topk",
    "teacher_topk_cached",
]
