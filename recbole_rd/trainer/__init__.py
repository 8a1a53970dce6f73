from recbole_rd.trainer.trainer import SafeTrainer
from recbole_rd.trainer.distill_trainer import DistillTrainer

__all__ = ["SafeTrainer", "DistillTrainer"]
