"""Model lookup by name: this plugin's models first, then RecBole's, then ``<Name>RD``, the student of a
RecBole sequential or general model. Sits above the models (it imports them by name, on demand)."""

import importlib

from recbole_rd.errors import ConfigError
from recbole_rd.utils import properties_dir

RECBOLE_PREFIX = "recbole."
_MODEL_SUBMODULES = ["sequential_recommender", "general_recommender"]


def plugin_model_names():
    """Names of the models this plugin defines (files of ``properties/model/`` that are models)."""
    return sorted(p.stem for p in (properties_dir() / "model").glob("*.yaml") if _plugin_model(p.stem))


def _plugin_model(model_name):
    for submodule in _MODEL_SUBMODULES:
        path = f"recbole_rd.model.{submodule}.{model_name.lower()}"
        if importlib.util.find_spec(path) is not None:
            module = importlib.import_module(path)
            if hasattr(module, model_name):
                return getattr(module, model_name)
    return None


ANOMALY_NOTE = ("torch's anomaly detection is on, so every operation records a Python stack: training runs "
                "25% slower or more. RecBole's sine.py switches it on when RecBole's sequential models are "
                "imported (e.g. `from recbole.model.sequential_recommender import SASRec`); "
                "torch.autograd.set_detect_anomaly(False) switches it off")


def import_recbole_models():
    """Imports RecBole's sequential and general model packages once, torch's anomaly detection kept as it
    was: RecBole's sine.py switches it on for the whole process when imported (:data:`ANOMALY_NOTE`). A later
    import of any of their modules then has no side effect."""
    import torch

    anomaly = torch.is_anomaly_enabled()
    try:
        for submodule in _MODEL_SUBMODULES:
            importlib.import_module(f"recbole.model.{submodule}")
    finally:
        torch.autograd.set_detect_anomaly(anomaly)


def _recbole_model(model_name):
    """RecBole's own model ``model_name``, or None (never one of ours that RecBole's lookup finds
    through :mod:`recbole_rd.recbole_registry`)."""
    from recbole.utils import get_model as recbole_get_model  # imports torch: not before a model is asked for

    import_recbole_models()
    try:
        model_class = recbole_get_model(model_name)
    except (ValueError, ImportError, AttributeError, ConfigError):  # RecBole imports optional libraries while searching
        return None
    return None if is_plugin_model(model_class) else model_class


def _recbole_student(model_name):
    """``<Name>RD`` for a RecBole model ``<Name>``: its distilled student, built by the sequential adapter
    or, for a model that is not sequential, the general one (ConfigError if it cannot be one). Where this
    plugin fixes a RecBole model (``LightGCN``, ``NGCF``: see their modules), the fixed one is the base."""
    from recbole.utils import ModelType

    from recbole_rd.model.general_recommender.recbole_general_student import general_student_class
    from recbole_rd.model.sequential_recommender.recbole_student import STUDENT_SUFFIX, student_class

    base_name = model_name[:-len(STUDENT_SUFFIX)]
    base = (_plugin_model(base_name) or _recbole_model(base_name)) if model_name.endswith(STUDENT_SUFFIX) \
        and base_name else None
    if base is None:
        return None
    return student_class(base) if base.type == ModelType.SEQUENTIAL else general_student_class(base)


def plugin_model(model_name):
    """This plugin's model ``model_name``: one of its own, or ``<Name>RD`` of a RecBole model; else None."""
    return _plugin_model(model_name) or _recbole_student(model_name)


def unknown_model(model_name):
    """The ConfigError for a model name nobody defines."""
    return ConfigError(
        f"model: unknown model '{model_name}'. This plugin defines "
        f"{', '.join(plugin_model_names())}; any RecBole model name also works "
        f"(e.g. SASRec, GRU4Rec, Pop, BPR; 'recbole.Caser' for RecBole's Caser), and "
        f"<RecBoleModel>RD is the distilled student of a RecBole sequential or general model (e.g. SASRecRD, "
        f"GRU4RecRD, BPRRD, LightGCNRD)."
    )


def get_model(model_name):
    """Model class by name: this plugin's models first, then RecBole's, then
    ``<Name>RD``, the distilled student of RecBole's sequential or general model ``<Name>``
    (``SASRecRD``, ``GRU4RecRD``, ...: see ``recbole_student``; ``BPRRD``, ``LightGCNRD``, ...:
    see ``recbole_general_student``).

    ``recbole.<Name>`` (e.g. ``recbole.Caser``) always picks RecBole's own model.
    """
    if model_name.startswith(RECBOLE_PREFIX):
        model_class = _recbole_model(model_name[len(RECBOLE_PREFIX):])
    else:
        model_class = _plugin_model(model_name) or _recbole_model(model_name) or _recbole_student(model_name)
    if model_class is None:
        raise unknown_model(model_name)
    return model_class


def is_plugin_model(model_class):
    return model_class.__module__.startswith("recbole_rd.")


