from recbole_rd.model.sequential_recommender.caser import Caser
from recbole_rd.model.sequential_recommender.caserrd import CaserRD
from recbole_rd.model.sequential_recommender.fossil import Fossil
from recbole_rd.model.sequential_recommender.fossilrd import FossilRD
from recbole_rd.model.sequential_recommender.recbole_student import RecBoleStudent, student_class

__all__ = ["Caser", "CaserRD", "Fossil", "FossilRD", "RecBoleStudent", "student_class"]
