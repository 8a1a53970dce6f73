"""Model and trainer lookup, plugin first then RecBole, and the properties folder."""

import importlib
import os
from pathlib import Path

from recbole_rd.errors import ConfigError, RecBoleRDError, TrainingDiverged  # noqa: F401 (their old home)

RECBOLE_PREFIX = "recbole."
_MODEL_SUBMODULES = ["sequential_recommender", "general_recommender"]




def properties_dir():
    """The folder holding overall.yaml, model/*.yaml and dataset/*.yaml.

    Installed packages carry it as ``recbole_rd/properties``; a source checkout
    keeps it at the repository top level.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "properties", here.parent / "properties"):
        if (candidate / "overall.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        f"recbole_rd properties folder not found beside {here}; reinstall the package"
    )


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


def _recbole_model(model_name):
    """RecBole's own model ``model_name``, or None (never one of ours that RecBole's lookup finds
    through :mod:`recbole_rd.recbole_registry`)."""
    from recbole.utils import get_model as recbole_get_model  # imports torch: not before a model is asked for

    try:
        model_class = recbole_get_model(model_name)
    except (ValueError, ImportError, AttributeError, ConfigError):  # RecBole imports optional libraries while searching
        return None
    return None if is_plugin_model(model_class) else model_class


def _recbole_student(model_name):
    """``<Name>RD`` for a RecBole model ``<Name>``: its distilled student (ConfigError if it cannot be one)."""
    from recbole_rd.model.sequential_recommender.recbole_student import STUDENT_SUFFIX, student_class

    base_name = model_name[:-len(STUDENT_SUFFIX)]
    base = _recbole_model(base_name) if model_name.endswith(STUDENT_SUFFIX) and base_name else None
    return student_class(base) if base is not None else None


def plugin_model(model_name):
    """This plugin's model ``model_name``: one of its own, or ``<Name>RD`` of a RecBole model; else None."""
    return _plugin_model(model_name) or _recbole_student(model_name)


def unknown_model(model_name):
    """The ConfigError for a model name nobody defines."""
    return ConfigError(
        f"model: unknown model '{model_name}'. This plugin defines "
        f"{', '.join(plugin_model_names())}; any RecBole model name also works "
        f"(e.g. SASRec, GRU4Rec, Pop, BPR; 'recbole.Caser' for RecBole's Caser), and "
        f"<RecBoleModel>RD is the distilled student of a RecBole sequential model (e.g. SASRecRD, GRU4RecRD)."
    )


def get_model(model_name):
    """Model class by name: this plugin's models first, then RecBole's, then
    ``<Name>RD``, the distilled student of RecBole's sequential model ``<Name>``
    (``SASRecRD``, ``GRU4RecRD``, ...; see ``recbole_student``).

    ``recbole.<Name>`` (e.g. ``recbole.Caser``) always picks RecBole's own model.
    """
    if model_name.startswith(RECBOLE_PREFIX):
        model_class = _recbole_model(model_name[len(RECBOLE_PREFIX):])
    else:
        model_class = _plugin_model(model_name) or _recbole_model(model_name) or _recbole_student(model_name)
    if model_class is None:
        raise unknown_model(model_name)
    return model_class


def size_key(model_class, config):
    """The config key of the model's width: the class's ``size_key`` when it declares one, else
    ``embedding_size`` or ``hidden_size``, whichever ``config`` (a Config or a dict) sets; None for
    models without one."""
    declared = getattr(model_class, "size_key", None)
    if declared:
        return declared
    return next((key for key in ("embedding_size", "hidden_size") if key in config and config[key] is not None),
                None)


def is_plugin_model(model_class):
    return model_class.__module__.startswith("recbole_rd.")


def atomic_write(path, write_fn, mode="wb"):
    """Write ``path`` through a temporary file in the same folder, then rename.

    A process killed mid-write leaves the previous file untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
