from recbole_rd.model.sequential_recommender.caser import Caser
from recbole_rd.model.sequential_recommender.caserrd import CaserRD
from recbole_rd.model.sequential_recommender.fossil import Fossil
from recbole_rd.model.sequential_recommender.fossilrd import FossilRD

__all__ = ["Caser", "CaserRD", "Fossil", "FossilRD"]
