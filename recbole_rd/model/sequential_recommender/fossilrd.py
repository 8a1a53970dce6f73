from recbole_rd.model.abstract_recommender import DistilledStudent
from recbole_rd.model.sequential_recommender.fossil import Fossil


class FossilRD(DistilledStudent, Fossil):
    """Fossil student trained with Ranking Distillation from a Fossil teacher (see CaserRD)."""

    teacher_model = "Fossil"
