"""Top-10 times of a comparison's rows, measured side by side: once a seed's rows are all trained (or
reused), each row's best checkpoint is loaded and the rows are timed in turn, in this process, over
:data:`TIMING_ROUNDS` interleaved rounds (T, S, ..., T, S, ...), each row's best round kept
(:func:`time_side_by_side`); a row whose checkpoint is gone keeps the time measured alone when it was
trained, marked in the table."""

import time
from collections import defaultdict
from logging import getLogger
from pathlib import Path

import torch

from recbole_rd.compare.result import SIDE_BY_SIDE, TIMING_ROUNDS, WHEN_TRAINED
from recbole_rd.distill.teacher import load_teacher, rows_per_block
from recbole_rd.errors import RecBoleRDError
from recbole_rd.ranking import top_k


def user_blocks(eval_data, device):
    """The users of ``eval_data`` on ``device``, in blocks of :func:`rows_per_block` rows."""
    step = rows_per_block(eval_data._dataset.item_num)
    for batch in eval_data:
        interaction = batch[0].to(device)
        for first in range(0, len(interaction), step):
            yield interaction[first:first + step]


@torch.no_grad()
def time_topk_lists(model, eval_data, k=10, repeats=3):
    """Best-of-``repeats`` seconds to produce top-``k`` lists for every user of ``eval_data``."""
    model.eval()
    device = next(model.parameters()).device
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for part in user_blocks(eval_data, device):
            top_k(model.full_sort_predict(part).view(len(part), -1), k)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def timed_model(row, result, train):
    """``row``'s model for timing: its best checkpoint (``result.checkpoint``, a :class:`RowResult`)
    loaded on the training split's dataset (:func:`load_teacher`: checked, frozen, in eval mode); None
    when it is gone or no longer loads."""
    path = result.checkpoint
    if not path or not Path(path).is_file():
        getLogger().warning(f"{row.label}: its checkpoint {path} is gone; its top-10 time is the one "
                            f"measured alone when it was trained")
        return None
    try:
        return load_teacher(row.config, train._dataset, path)[0]
    except RecBoleRDError as err:
        getLogger().warning(f"{row.label}: {err}; its top-10 time is the one measured alone when it was trained")
        return None


def time_side_by_side(rows, results, train, test, rounds=TIMING_ROUNDS):
    """Time the top-10 lists of every row of one seed in turn, in this process: each row's best
    checkpoint loaded, then ``rounds`` interleaved rounds (T, S, ..., T, S, ...); each row's best round
    becomes its ``topk_seconds`` (``time_measured``: :data:`SIDE_BY_SIDE`) in ``results`` (``{row
    label: RowResult}``). A row whose checkpoint is gone keeps the time measured when it was trained
    (:data:`WHEN_TRAINED`)."""
    models = {row.label: timed_model(row, results[row.label], train) for row in rows}
    seconds = defaultdict(list)
    for _ in range(rounds):
        for label, model in models.items():
            if model is not None:
                seconds[label].append(time_topk_lists(model, test, repeats=1))
    for label in models:
        results[label].time_measured = SIDE_BY_SIDE if seconds[label] else WHEN_TRAINED
        if seconds[label]:
            results[label].topk_seconds = min(seconds[label])
