"""Former home of the RD loss, now :mod:`recbole_rd.distill.rd`; its names stay importable here."""

from recbole_rd.distill.rd import (  # noqa: F401
    WEIGHTINGS,
    RankingDistillationLoss,
    discrepancy_weights,
    estimate_student_rank,
    position_weights,
)
