from recbole_rd.model.general_recommender.pop import Pop
from recbole_rd.model.general_recommender.recbole_general_student import RecBoleGeneralStudent, general_student_class

__all__ = ["Pop", "RecBoleGeneralStudent", "general_student_class"]
