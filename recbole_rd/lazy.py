"""Package attributes imported on first use, so that ``import recbole_rd`` and the command line's
first answer do not wait for torch and RecBole (PEP 562)."""

import importlib


def lazy_exports(package, exports):
    """The module ``__getattr__`` of ``package`` that imports ``exports[name]`` (a module path) and
    returns its ``name`` on first use."""

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__
