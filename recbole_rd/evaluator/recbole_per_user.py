"""Per-user values under RecBole's own protocol: RecBole's evaluator averages each top-k metric over the
users before it returns; :class:`KeepingEvaluator` also keeps the values of every user (the paired tests and
error bars of a comparison need them), computed by RecBole's own metric classes from the same data (see
the trainers' ``evaluate_with_users``)."""

import inspect

import torch
from recbole.evaluator.base_metric import TopkMetric


def per_user_values(metric_class, struct):
    """``{"<metric>@<k>": tensor over users}`` for every top-k metric of ``metric_class`` (RecBole's
    ``Evaluator.metric_class``) from the collected ``struct``; other metrics (AUC, coverage) have no
    per-user value and are left out."""
    values = {}
    for name, metric in metric_class.items():
        if not isinstance(metric, TopkMetric):
            continue
        pos_index, pos_len = metric.used_info(struct)
        takes_len = len(inspect.signature(metric.metric_info).parameters) == 2
        matrix = metric.metric_info(pos_index, pos_len) if takes_len else metric.metric_info(pos_index)
        for k in metric.topk:
            values[f"{name}@{k}"] = torch.as_tensor(matrix[:, k - 1], dtype=torch.float64)
    return values


class KeepingEvaluator:
    """RecBole's ``evaluator``, also putting the per-user values of the data it evaluates into ``kept``."""

    def __init__(self, evaluator, kept):
        self.evaluator, self.kept = evaluator, kept

    def evaluate(self, struct):
        self.kept.update(per_user_values(self.evaluator.metric_class, struct))
        return self.evaluator.evaluate(struct)
