from recbole_rd.quick_start.load import load_data_and_model, resave_recbole_checkpoint
from recbole_rd.quick_start.quick_start import prepare, run, run_recbole_rd, train_and_test

__all__ = ["load_data_and_model", "prepare", "resave_recbole_checkpoint", "run", "run_recbole_rd", "train_and_test"]
