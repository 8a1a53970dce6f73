"""Per-user values under RecBole's own protocol: RecBole's evaluator averages each top-k metric over the
users before it returns; :func:`evaluate_per_user` keeps the values of every user (the paired tests and
error bars of a comparison need them), computed by RecBole's own metric classes from the same data."""

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


class _KeepingEvaluator:
    """RecBole's evaluator, also keeping the per-user values of the data it evaluates."""

    def __init__(self, evaluator):
        self.evaluator, self.per_user = evaluator, None

    def evaluate(self, struct):
        self.per_user = per_user_values(self.evaluator.metric_class, struct)
        return self.evaluator.evaluate(struct)


def evaluate_per_user(trainer, eval_data):
    """Evaluate ``trainer``'s model on ``eval_data`` as RecBole's ``Trainer.evaluate`` does (full or
    sampled ranking, as the loader was built) and return ``(result, per_user)``: RecBole's result and
    the per-user tensors of its top-k metrics, in the loader's user order (the same for every model
    tested on it)."""
    evaluator, keeping = trainer.evaluator, _KeepingEvaluator(trainer.evaluator)
    trainer.evaluator = keeping
    try:
        result = trainer.evaluate(eval_data, load_best_model=False)
    finally:
        trainer.evaluator = evaluator
    return result, keeping.per_user
