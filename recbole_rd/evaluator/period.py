"""Evaluation of one period of the paper protocol: one ranking per user, averaged metrics."""

from collections import OrderedDict

import torch
from recbole.utils import set_color
from tqdm import tqdm

from recbole_rd import distributed
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.evaluator.evaluator import EvalSettings, eval_settings, ranking_metrics


def with_settings(config, *periods):
    """``periods`` (the split's evaluation data) with the metrics ``config`` asks for
    (:func:`eval_settings`), checked now: before anything trains. Other eval data pass unchanged."""
    paper = [period for period in periods if isinstance(period, PeriodEvalData)]
    if paper:  # eval_settings also settles the config's valid_metric: the paper protocol's, not RecBole's
        settings = eval_settings(config)
        for period in paper:
            period.settings = settings
    return periods


def evaluate_period(eval_data, model, device, per_user=False, show_progress=None):
    """The metrics of ``eval_data.settings`` (``eval_data``: a :class:`PeriodEvalData`; default
    settings: Precision@3/5/10, nDCG@3/5/10, full-ranking MAP) of ``model``, averaged over users and
    rounded to ``metric_decimal_place`` (:func:`period_averages`); ``per_user=True``: a tensor per metric,
    one value per user (:func:`period_user_values`). ``show_progress`` (default: the config's) shows a
    progress bar on rank 0.

    In DDP mode each rank scores its share of the users and the sums are
    all-reduced (``per_user`` then gives this rank's users only).
    """
    values = period_user_values(eval_data, model, device, show_progress)
    return values if per_user else period_averages(values, eval_data)


@torch.no_grad()
def period_user_values(eval_data, model, device, show_progress=None):
    """``{metric: tensor}``: each user's value of every metric of ``eval_data.settings``, for this rank's
    share of the users (all of them outside DDP)."""
    settings = eval_data.settings or EvalSettings()
    model.eval()
    parts = {key: [] for key in settings.keys()}
    first, stop = distributed.shard(len(eval_data.users))
    batches = eval_data.batches(first, stop)
    if (settings.show_progress if show_progress is None else show_progress) and distributed.rank() == 0:
        batches = tqdm(batches, total=-(-(stop - first) // eval_data.batch_size), ncols=100,
                       desc=set_color("Evaluate   ", "pink"))
    for batch in batches:
        scores = eval_data.scores(model, batch, device)
        _, _, (rel_row, rel_flat), _ = batch
        relevant = torch.zeros_like(scores, dtype=torch.bool)
        relevant[rel_row.to(device), eval_data.relevant[1][rel_flat].to(device)] = True
        for key, values in ranking_metrics(scores, relevant, settings).items():
            parts[key].append(values.cpu())
    return {key: torch.cat(v) if v else torch.zeros(0) for key, v in parts.items()}


def period_averages(values, eval_data):
    """The per-user ``values`` of :func:`period_user_values` averaged over every rank's users, rounded to
    ``metric_decimal_place``."""
    settings = eval_data.settings or EvalSettings()
    users = len(next(iter(values.values()))) if values else 0
    sums = torch.tensor([float(v.double().sum()) for v in values.values()] + [users], dtype=torch.float64)
    sums = distributed.all_reduce_sum(sums)
    return OrderedDict((key, round(float(sums[i] / sums[-1]), settings.decimals))
                       for i, key in enumerate(values))
