"""The ground of the package: the properties folder, atomic writes, a model's width key (and the
errors' old import path). Imports nothing of the package above :mod:`recbole_rd.errors`."""

import os
from pathlib import Path

from recbole_rd.errors import ConfigError, RecBoleRDError, TrainingDiverged  # noqa: F401 (their old home)


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


def size_key(model_class, config):
    """The config key of the model's width: the class's ``size_key`` when it declares one, else
    ``embedding_size`` or ``hidden_size``, whichever ``config`` (a Config or a dict) sets; None for
    models without one."""
    declared = getattr(model_class, "size_key", None)
    if declared:
        return declared
    return next((key for key in ("embedding_size", "hidden_size") if key in config and config[key] is not None),
                None)


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
