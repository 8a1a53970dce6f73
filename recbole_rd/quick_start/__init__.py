from recbole_rd.quick_start.quick_start import prepare, run, run_recbole_rd, train_and_test

__all__ = ["prepare", "run", "run_recbole_rd", "train_and_test"]
