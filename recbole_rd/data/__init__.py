"""Datasets and splits; the names below are imported on first use (the command line stays light)."""

from recbole_rd.lazy import lazy_exports

_EXPORTS = {"DatasetError": "recbole_rd.errors", "create_dataset": "recbole_rd.data.dataset",
            "data_preparation": "recbole_rd.data.dataset"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
