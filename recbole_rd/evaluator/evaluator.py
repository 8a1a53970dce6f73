"""Which metrics the paper protocol computes, from RecBole's evaluation config keys."""

from collections import OrderedDict
from logging import getLogger
from typing import NamedTuple

from recbole_rd.evaluator.metrics import METRICS, Rankings
from recbole_rd.utils import ConfigError

PAPER_METRICS = ("Precision", "NDCG", "MAP")
PAPER_TOPK = (3, 5, 10)


class EvalSettings(NamedTuple):
    """Metric names (as in ``metrics``), cut-offs, decimals of averaged results, progress bar."""

    metrics: tuple = PAPER_METRICS
    topk: tuple = PAPER_TOPK
    decimals: int = 4
    show_progress: bool = False

    def metric_classes(self):
        return [METRICS[name.lower()] for name in self.metrics]

    def keys(self):
        """Result keys in RecBole's order and case: ``precision@3``, ..., ``map``."""
        return [key for _, _, key in self.columns()]

    def columns(self):
        """``(metric class, k, key)`` of every result value (``k`` None for full-ranking metrics)."""
        return [(cls, k, cls.key(k)) for cls in self.metric_classes() for k in (self.topk if cls.topk else (None,))]


def _user_given(config, key):
    """Whether the user set ``key`` (config file, config_dict or command line), not a default."""
    return key in getattr(config, "external_config_dict", {})


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def eval_settings(config):
    """:class:`EvalSettings` of the paper protocol from ``config``.

    Config keys: ``metrics`` and ``topk``: the paper's set (Precision and NDCG at 3, 5, 10
    and full-ranking MAP) unless the user sets either key; then both come from the config,
    as RecBole reads them (``Recall``, ``MRR``, ``NDCG``, ``Hit``, ``Precision`` and
    ``MAP`` are computed; ``MAP`` is the paper's full-ranking MAP, key ``map``).
    ``metric_decimal_place`` rounds the averaged results; ``valid_metric`` must name
    one of the computed values (any case); ``show_progress`` shows a progress bar.
    """
    if _user_given(config, "metrics") or _user_given(config, "topk"):
        metrics, topk = _as_list(config["metrics"]), _as_list(config["topk"])
    else:
        metrics, topk = PAPER_METRICS, PAPER_TOPK
    unknown = [m for m in metrics if not isinstance(m, str) or m.lower() not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"metrics: {unknown or metrics!r} not computed by the paper protocol; "
                          f"allowed: {[cls.__name__ for cls in METRICS.values()]}")
    if not topk or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0 for k in topk):
        raise ConfigError(f"topk: {config['topk']!r} is invalid; allowed: positive integers, e.g. [5, 20]")
    decimals = config["metric_decimal_place"]
    decimals = 4 if decimals is None else decimals
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise ConfigError(f"metric_decimal_place: {decimals!r} is invalid; allowed: an integer >= 0")
    settings = EvalSettings(tuple(metrics), tuple(dict.fromkeys(topk)), decimals, bool(config["show_progress"]))
    valid = str(config["valid_metric"] or "").lower()
    if valid not in settings.keys() and not _user_given(config, "valid_metric"):
        valid = config["valid_metric"] = nearest_valid_metric(valid, settings)
    if valid not in settings.keys():
        raise ConfigError(f"valid_metric: '{config['valid_metric']}' is not computed by the paper protocol "
                          f"(metrics={list(settings.metrics)}, topk={list(settings.topk)}); allowed: "
                          f"{settings.keys()}, e.g. --valid_metric={settings.keys()[0]}")
    return settings


def nearest_valid_metric(default, settings):
    """The computed key closest to the default ``valid_metric`` (same metric, nearest cut-off;
    else the first key), used when the user changed ``metrics``/``topk`` but not ``valid_metric``:
    the default NDCG@10 becomes ndcg@5 with ``topk: [5, 20]``. Logged as a warning."""
    name, _, k = default.partition("@")
    same = [key for cls, cut, key in settings.columns() if cls.__name__.lower() == name and cut is not None]
    if k.isdigit() and same:
        choice = min(same, key=lambda key: (abs(int(key.split("@")[1]) - int(k)), key))
    else:
        choice = settings.keys()[0]
    getLogger().warning(f"valid_metric: the default {default} is not computed with these metrics/topk; "
                        f"early stopping uses {choice} (set --valid_metric to choose)")
    return choice


def ranking_metrics(scores, relevant, settings=EvalSettings()):
    """Per-row values ``{key: [B]}`` of the ``settings``' metrics for ``scores`` ``[B, n_items]``
    (excluded items at ``-inf``) and boolean ``relevant`` ``[B, n_items]``."""
    rankings = Rankings(scores, relevant, max(settings.topk))
    return OrderedDict((key, cls.value(rankings, k)) for cls, k, key in settings.columns())
