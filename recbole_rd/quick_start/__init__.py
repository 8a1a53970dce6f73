"""Entry points; the names below are imported on first use (the command line stays light)."""

from recbole_rd.lazy import lazy_exports

_EXPORTS = {"load_data_and_model": "recbole_rd.quick_start.load",
            "resave_recbole_checkpoint": "recbole_rd.quick_start.load",
            "prepare": "recbole_rd.quick_start.quick_start", "run_recbole_rd": "recbole_rd.quick_start.quick_start",
            "run": "recbole_rd.quick_start.distributed_run", "train_and_test": "recbole_rd.quick_start.training"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
