"""Where a run writes: its folders (``log/<model>``, ``checkpoint_dir``), which log records stay off the
console, and fresh checkpoint names."""

import itertools
import logging
import os
import sys
from logging import getLogger

from recbole.utils import get_local_time, init_logger

from recbole_rd import distributed
from recbole_rd.utils import size_key

_RUNS = itertools.count()
LOG_DIR = "log"  # RecBole's init_logger writes log/<model>/
FILE_ONLY = {"file_only": True}  # ``extra`` of a log record meant for the log file, not the console


def make_run_dirs(config):
    """Create ``log/<model>`` and ``checkpoint_dir`` if missing. RecBole checks, then creates them
    (``ensure_dir``), so two DDP processes starting in an empty folder race (FileExistsError);
    ``exist_ok`` is safe in every process. (TensorBoard creates ``log_tensorboard/`` with ``exist_ok``;
    the teacher cache, datasets and results are written through ``atomic_write``, which does too.)"""
    for path in (os.path.join(LOG_DIR, config["model"]), config["checkpoint_dir"]):
        os.makedirs(path, exist_ok=True)


def _not_file_only(record):
    return not getattr(record, "file_only", False)


def keep_file_only_records_off_console():
    """Console handlers of the root logger skip records logged with ``extra=FILE_ONLY``."""
    for handler in getLogger().handlers:
        if (isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
                and _not_file_only not in handler.filters):
            handler.addFilter(_not_file_only)


_WRAPPED = []  # (console stream made by the last init_logger, the stream it wraps)


def _unwrapped(stream):
    return next((inner for wrapper, inner in _WRAPPED if wrapper is stream), stream)


def start_logging(config):
    """RecBole's ``init_logger``, its console handlers skipping ``FILE_ONLY`` records. ``init_logger`` calls
    colorama's ``init``, which wraps ``sys.stdout`` and ``sys.stderr`` (colours taken off where they are not a
    terminal) around what they are now: at every run one more layer, and after a few hundred runs in one
    process (a long ``tune``, a notebook) printing raised RecursionError. The layer of the previous run
    comes off first."""
    sys.stdout, sys.stderr = _unwrapped(sys.stdout), _unwrapped(sys.stderr)
    before = sys.stdout, sys.stderr
    init_logger(config)
    _WRAPPED[:] = [(sys.stdout, before[0]), (sys.stderr, before[1])]
    keep_file_only_records_off_console()


def checkpoint_path(config, tag=None):
    """A fresh checkpoint file name saying what it holds: model, dataset, ``tag`` (a role such as
    ``teacher``), width (``d<size>``), then time, process id and a counter (two runs in the same
    second of one process must not share a file). In DDP mode all ranks get rank 0's name."""
    key = size_key(config.model_class, config)
    parts = [config["model"], config["dataset"], tag if tag and tag != config["model"] else None,
             f"d{config[key]}" if key else None, get_local_time(), str(os.getpid()), str(next(_RUNS))]
    name = "-".join(part for part in parts if part) + ".pth"
    return distributed.broadcast_object(os.path.join(config["checkpoint_dir"], name))
