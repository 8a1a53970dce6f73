"""The interface every distillation method implements, and the name -> method registry.

A method is one module of this package holding one :class:`DistillMethod` subclass with a
``name``; ``distill_method: <name>`` picks it. It declares what it needs from the teacher
pass (:class:`TeacherNeed`) and returns the loss parts of each batch. It may use only the
student's ``ranking_loss_and_scores``, ``full_sort_predict`` and ``n_items``.
"""

import importlib
import math
import pkgutil
from logging import getLogger
from dataclasses import dataclass

import torch
from torch import nn

from recbole_rd.config_values import check_key, is_int, is_number  # noqa: F401 (methods import them here)
from recbole_rd.utils import ConfigError

METHODS = {}  # name -> DistillMethod subclass, filled as the method modules are imported
DEFAULT_METHOD = "rd"


@dataclass(frozen=True)
class TeacherNeed:
    """What a method needs of the teacher for each training instance: its top ``n`` item ids
    (best first), and with ``scores`` also the teacher's scores of those items."""

    n: int
    scores: bool = False


def positive_int(config, key, upper=None):
    """``config[key]`` checked to be an integer in ``1..upper``."""
    value = config[key]
    bound = f"1..{upper}" if upper is not None else ">= 1"
    check_key(key, value, is_int(value) and value >= 1 and (upper is None or value <= upper), f"an integer {bound}")
    return value


_WARNED = set()


def warn_once(message):
    """Log ``message`` as a warning the first time this process meets it (a method's keys are checked
    before the teacher trains and again when the student's trainer builds the method)."""
    if message not in _WARNED:
        _WARNED.add(message)
        getLogger().warning(message)


def capped_int(config, key, upper):
    """``config[key]``, a positive integer, lowered to ``upper`` (with a warning) when the catalogue
    is too small for it: the defaults (e.g. ``rrd_N: 500``) then also run on small datasets."""
    value = positive_int(config, key)
    if value > upper:
        check_key(key, value, upper >= 1, "an integer >= 1 (the catalogue is too small for this method)")
        warn_once(f"{key}: {value} is more than this dataset allows ({upper}); using {upper}")
        return upper
    return value


def number(config, key):
    value = config[key]
    check_key(key, value, is_number(value) and math.isfinite(value), "a finite number")
    return float(value)


def positive_number(config, key):
    value = config[key]
    check_key(key, value, is_number(value) and 0 < value < math.inf, "a finite number > 0")
    return float(value)


def weight(config, key):
    """A loss weight: a number >= 0."""
    value = config[key]
    check_key(key, value, is_number(value) and 0 <= value < math.inf, "a finite number >= 0")
    return float(value)


class DistillMethod(nn.Module):
    """One way of distilling a teacher's ranking into a student.

    Subclasses set ``name`` (the ``distill_method`` value) and ``part_names`` (the loss parts
    :meth:`loss` returns, first ``L_R``), read and check their config keys in
    ``__init__(config, n_items, room)`` (ConfigError naming a bad key; ``room``: the most items every
    row of the teacher's ranking can hold, by default ``n_items - 2``: all but the padding item and an
    instance's target; a general student's users have their training items left out), and implement
    :meth:`teacher_need` and :meth:`loss`. A method with variants names the key choosing one
    and its values (``variant_key``, ``variants``): ``--distill_methods`` then takes ``name-variant``.
    """

    name = None
    part_names = ("L_R", "L_D")
    variant_key, variants = None, ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.name:
            METHODS[cls.name] = cls

    def __init__(self, config, n_items, room=None):
        super().__init__()
        self.n_items = n_items
        self.room = n_items - 2 if room is None else room
        self.epoch = 0

    def teacher_need(self):
        """The :class:`TeacherNeed` of this method."""
        raise NotImplementedError

    def start_epoch(self, epoch, student, dataset, teacher):
        """Called before each training epoch (e.g. to re-rank with the student)."""
        self.epoch = epoch

    def loss(self, student, interaction, teacher):
        """The loss parts ``(L_R, weighted L_D, ...)`` of one batch; their sum is minimised.
        ``teacher`` is the :class:`~recbole_rd.distill.teacher.TeacherRanking` of all instances."""
        raise NotImplementedError

    def epoch_stats(self):
        """Figures of the last epoch to log besides the loss parts (name -> float)."""
        return {}

    def epoch_label(self):
        """How the epoch's log line names this method (and its current mode)."""
        return self.name


def _import_methods():
    """Import every module of this package once, so that each method registers itself."""
    package = importlib.import_module("recbole_rd.distill")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"recbole_rd.distill.{info.name}")


def method_class(name):
    """The DistillMethod registered as ``name`` (``None`` means :data:`DEFAULT_METHOD`)."""
    _import_methods()
    name = DEFAULT_METHOD if name is None else name
    if name not in METHODS:
        raise ConfigError(f"distill_method: {name!r} is not one of {sorted(METHODS)}")
    return METHODS[name]


def build_method(config, n_items, room=None):
    """The method named by config key ``distill_method``, with its keys checked (``room``: see
    :class:`DistillMethod`)."""
    return method_class(config["distill_method"])(config, n_items, room)


def uniform_items(n_items, shape, device):
    """Items drawn uniformly from the real items ``1..n_items-1`` (seen ones too)."""
    return torch.randint(1, n_items, shape, device=device)


def rank_weights(n, temperature, device=None):
    """``exp(-r / T)`` for ranks r = 1..n (unnormalised sampling weights)."""
    return torch.exp(-torch.arange(1, n + 1, dtype=torch.float, device=device) / temperature)


def drawable_rank_weights(config, temperature_key, n, draws_key, draws):
    """:func:`rank_weights` of ``config[temperature_key]`` for ``draws`` draws without replacement;
    refused when fewer than ``draws`` are above 0 (``exp(-r/T)`` underflows beyond r ≈ 103 T in
    float32), as the draws would then silently take items of no chance."""
    temperature = positive_number(config, temperature_key)
    weights = rank_weights(n, temperature)
    chances = int((weights > 0).sum())
    if chances < draws:
        raise ConfigError(f"{temperature_key}: {temperature} gives {chances} of the top {n} ranks a chance "
                          f"(exp(-r/T) underflows), fewer than {draws_key}={draws} draws; raise {temperature_key} "
                          f"to at least {draws / 100:g} or lower {draws_key}")
    return weights


def sample_positions(weights, k, rows):
    """``[rows, k]`` positions drawn without replacement with probability ∝ ``weights``
    (``[n]`` shared by the rows, or ``[rows, n]``), sorted: the items keep the teacher's order."""
    if weights.dim() == 1:
        weights = weights.expand(rows, -1)
    return torch.multinomial(weights, k, replacement=False).sort(dim=1).values
