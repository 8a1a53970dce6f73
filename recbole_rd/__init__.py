"""Ranking Distillation (Tang & Wang, KDD 2018) as a RecBole plugin.

The names below are imported on first use: ``import recbole_rd`` (and the command line's first
answer) does not wait for torch and RecBole."""

from recbole_rd import recbole_registry
from recbole_rd.lazy import lazy_exports

__version__ = "0.1.0"
_EXPORTS = {
    "Config": "recbole_rd.config",
    "Caser": "recbole_rd.model.sequential_recommender",
    "CaserRD": "recbole_rd.model.sequential_recommender",
    "Fossil": "recbole_rd.model.sequential_recommender",
    "FossilRD": "recbole_rd.model.sequential_recommender",
    "student_class": "recbole_rd.model.sequential_recommender",
    "run_recbole_rd": "recbole_rd.quick_start",
    "get_trainer": "recbole_rd.trainer",
    "get_model": "recbole_rd.model.registry",
    "properties_dir": "recbole_rd.utils",
}
__all__ = list(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)

recbole_registry.install()  # RecBole's own get_model finds CaserRD, FossilRD, SASRecRD, ...
