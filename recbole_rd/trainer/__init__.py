from recbole.utils import get_trainer as recbole_get_trainer

from recbole_rd.model.abstract_recommender import is_student
from recbole_rd.model.registry import get_model
from recbole_rd.trainer.distill_trainer import DistillTrainer
from recbole_rd.trainer.trainer import SafeTrainer, safe_trainer_class

__all__ = ["SafeTrainer", "DistillTrainer", "get_trainer"]


def get_trainer(model_type, model_name, model_class=None):
    """Trainer class, as RecBole's ``get_trainer``: DistillTrainer for distilled students;
    otherwise RecBole's choice, given safe checkpoints when it derives from RecBole's Trainer."""
    model_class = model_class or get_model(model_name)
    if is_student(model_class):
        return DistillTrainer
    return safe_trainer_class(recbole_get_trainer(model_type, model_name.split(".")[-1]))
