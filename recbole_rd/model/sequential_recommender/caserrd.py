from recbole_rd.model.abstract_recommender import DistilledStudent
from recbole_rd.model.sequential_recommender.caser import Caser


class CaserRD(DistilledStudent, Caser):
    """Caser student trained with Ranking Distillation from a Caser teacher.

    Same network as :class:`Caser`; ``properties/model/CaserRD.yaml`` sets the
    student size (d=50) and the distillation keys, and ``DistillTrainer`` trains it.
    """

    teacher_model = "Caser"
