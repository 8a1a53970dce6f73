"""Ranking Distillation (Tang & Wang, KDD 2018) as a RecBole plugin."""

from recbole_rd.config import Config
from recbole_rd.model.sequential_recommender import Caser, CaserRD, Fossil, FossilRD, student_class
from recbole_rd.quick_start import run_recbole_rd
from recbole_rd.trainer import get_trainer
from recbole_rd.utils import get_model, properties_dir

__version__ = "0.1.0"
__all__ = ["Config", "Caser", "CaserRD", "Fossil", "FossilRD", "student_class", "run_recbole_rd", "get_model",
           "get_trainer", "properties_dir"]
