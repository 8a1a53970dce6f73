"""Lets RecBole's own ``get_model`` find this plugin's distilled students (``CaserRD``, ``FossilRD``,
``SASRecRD``, ...) after ``import recbole_rd``.

RecBole looks a model up as the module ``recbole.model.<kind>.<name lower-cased>``; without this,
``recbole.quick_start.run_recbole(model="CaserRD")`` ends in an unrelated ``ModuleNotFoundError:
lightgbm`` (RecBole's last package to search imports it). A finder placed after Python's own answers
``recbole.model.sequential_recommender.<x>rd`` with a module whose attributes are resolved by
:func:`recbole_rd.model.registry.plugin_model`. Such a student still needs this package's Config, trainer and
teacher: built from RecBole's Config it stops with :data:`USE_RECBOLE_RD` (see
:func:`require_plugin_config`). Importing this module imports nothing heavy."""

import importlib.abc
import importlib.machinery
import sys

PACKAGE = "recbole.model.sequential_recommender"
STUDENT_SUFFIX = "rd"
USE_RECBOLE_RD = (
    "{model} is a recbole_rd student: it needs recbole_rd's Config (its distillation keys), trainer and "
    "teacher, which RecBole's run_recbole does not provide. Call recbole_rd.run_recbole_rd(model='{model}', "
    "dataset=...) instead, or on the command line: python run_recbole_rd.py --model={model} --dataset=...")


class _StudentModule(importlib.abc.Loader):
    """A module whose attributes are this plugin's models, looked up by name."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        def lookup(name):
            if name.startswith("__"):
                raise AttributeError(name)
            from recbole_rd.model.registry import plugin_model, unknown_model

            found = plugin_model(name)
            if found is None:
                raise unknown_model(name)
            return found

        module.__getattr__ = lookup


class StudentFinder(importlib.abc.MetaPathFinder):
    """Answers for ``recbole.model.sequential_recommender.<x>rd`` when RecBole has no such module."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE or not name.endswith(STUDENT_SUFFIX) or len(name) == len(STUDENT_SUFFIX):
            return None
        return importlib.machinery.ModuleSpec(fullname, _StudentModule())


def install():
    """Put :class:`StudentFinder` last on ``sys.meta_path`` (once): RecBole's own modules win."""
    if not any(isinstance(finder, StudentFinder) for finder in sys.meta_path):
        sys.meta_path.append(StudentFinder())


def require_plugin_config(config, model_name):
    """ConfigError :data:`USE_RECBOLE_RD` when ``config`` is not a :class:`recbole_rd.config.Config`
    (RecBole's own Config of a recbole_rd student: without its properties and distillation keys)."""
    from recbole_rd.config import Config
    from recbole_rd.errors import ConfigError

    if not isinstance(config, Config):
        raise ConfigError(USE_RECBOLE_RD.format(model=model_name))
