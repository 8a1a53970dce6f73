"""Entry points; the names below are imported on first use (the command line stays light)."""

from recbole_rd.lazy import lazy_exports

_EXPORTS = {"load_data_and_model": "recbole_rd.quick_start.load",
            "resave_recbole_checkpoint": "recbole_rd.quick_start.load",
            **dict.fromkeys(("prepare", "run", "run_recbole_rd", "train_and_test"), "recbole_rd.quick_start.quick_start")}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
