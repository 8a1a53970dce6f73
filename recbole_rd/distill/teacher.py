"""Loading a teacher safely and computing its top-N ranking (ids, and scores where a method
needs them) for every training instance (cached on disk by :mod:`recbole_rd.distill.topk_cache`)."""

import time
from dataclasses import dataclass, replace
from logging import getLogger

import torch
from recbole.utils import set_color
from tqdm import tqdm

from recbole_rd import distributed
from recbole_rd.checkpoint import (
    check_same_data,
    check_same_split,
    load_checkpoint,
    load_weights,
    saved_model_class,
)
from recbole_rd.config import config_beside
from recbole_rd.distill.base import TeacherNeed
from recbole_rd.model.sequential_recommender.recbole_student import scores_by_item_embedding
from recbole_rd.ranking import top_k

ID_DTYPE, SCORE_DTYPE = torch.int32, torch.float16
FLOAT16_MAX = torch.finfo(torch.float16).max  # scores beyond it are stored clamped
INSTANCE_ID = "rd_instance_id"  # training-row index added to the train dataset
# scores held at once when ranking all items (32 MiB of float32): blocks this small keep the
# score matrix near the CPU caches (measured: GEMM 1.2-1.5x faster than with 128 MiB blocks)
SCORE_BUDGET = 2**23


MIN_BLOCK_ROWS = 256  # fewer rows per product leave the GEMM starved (measured 10x slower at 59 rows)


def rows_per_block(n_items, budget=SCORE_BUDGET):
    """Rows scored at once against ``n_items`` items: ``budget`` scores, but at least
    ``MIN_BLOCK_ROWS`` rows (memory then ``MIN_BLOCK_ROWS x n_items`` scores)."""
    return max(MIN_BLOCK_ROWS, min(8192, budget // n_items))


def block_scorer(model):
    """``(encode, score_shared)`` of a model that can score a block of items for a batch of rows:
    this package's models, and RecBole models scoring ``forward(item_seq, item_seq_len) .
    item_embedding`` (SASRec, GRU4Rec, ...; checked on a probe batch); None for the others."""
    if hasattr(model, "score_shared"):
        return model.encode, model.score_shared
    if scores_by_item_embedding(model):
        return (lambda interaction: model.forward(interaction[model.ITEM_SEQ], interaction[model.ITEM_SEQ_LEN]),
                lambda state, items: state @ model.item_embedding(items).T)
    return None


def items_per_block(model, n_items, rows, K, scorer=None):
    """Items scored at once for ``rows`` rows: as many as keep ``rows x items`` within
    ``SCORE_BUDGET`` for models with a :func:`block_scorer` (``scorer``, when already known),
    else all of them."""
    scorer = scorer or block_scorer(model)
    return max(K, SCORE_BUDGET // rows) if scorer is not None else n_items


def load_teacher(config, dataset, path):
    """Rebuild the teacher recorded in checkpoint ``path`` on ``dataset``, frozen in eval mode.

    Refuses checkpoints that are unsafe, corrupt, or trained on other data.
    """
    state = load_checkpoint(path, map_location=config["device"])
    check_same_data(state, dataset, path, role="teacher checkpoint")
    check_same_split(state, config, path)
    model_class = saved_model_class(state, path)
    teacher = model_class(saved_teacher_config(config, model_class, state), dataset).to(config["device"])
    load_weights(teacher, state, path)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher, state


def saved_teacher_config(config, model_class, state):
    """The config of the teacher saved in checkpoint ``state``: :func:`config_beside` the student's
    ``config``, with the teacher's recorded hyper-parameters."""
    return config_beside(config, model_class, state["hyper_parameters"])


def targets_of(interaction, field):
    """The instances' targets ``[B, T]`` (``field``: the target item field)."""
    return interaction[field].view(len(interaction), -1)


@dataclass
class TeacherRanking:
    """The teacher's top-N item ids of every row, best first (``[rows, N]``, int32), and where a method
    asks for them its scores of those items (float16, else None): ``4 N`` bytes per row, ``6 N`` with
    scores. A row is a training instance (``row_field`` :data:`INSTANCE_ID`) or a general student's user
    (the user id field: :mod:`recbole_rd.distill.user_teacher`)."""

    ids: torch.Tensor
    scores: torch.Tensor = None
    row_field: str = INSTANCE_ID

    @property
    def per_user(self):  # a general student's ranking
        return self.row_field != INSTANCE_ID

    def to(self, device):
        return replace(self, ids=self.ids.to(device), scores=None if self.scores is None else self.scores.to(device))

    def rows(self, interaction):
        """``[B]`` the row of each of the batch's interactions."""
        return interaction[self.row_field]

    def of(self, interaction):
        """``(ids [B, N] long, scores [B, N] float32 or None)`` of the batch's rows."""
        rows = self.rows(interaction)
        return self.ids[rows].long(), None if self.scores is None else self.scores[rows].float()


def progress_bar(total, desc, show):
    """RecBole-style tqdm bar over ``total`` instances (shows instances/s); silent unless ``show``."""
    return tqdm(total=total, ncols=100, unit="instance", unit_scale=True, desc=set_color(desc, "pink"),
                disable=not show)


def scored_chunks(model, dataset, rows, chunk_size, device, target_field):
    """``(offset, interaction, scores)`` for chunks of the instances ``range(*rows)`` of
    ``dataset``: ``model.full_sort_predict`` scores ``[chunk, n_items]`` with the padding item
    and each instance's targets (field ``target_field``) at -inf. Memory: one chunk of scores."""
    first, stop = rows
    for start in range(first, stop, chunk_size):
        interaction = dataset.inter_feat[start:min(stop, start + chunk_size)].to(device)
        scores = model.full_sort_predict(interaction).view(len(interaction), dataset.item_num)
        yield start - first, interaction, _mask_padding_and_targets(scores, targets_of(interaction, target_field))


@torch.no_grad()
def teacher_ranking(teacher, dataset, need, device, chunk_size=None, rows=None, item_block=None,
                    show_progress=False):
    """:class:`TeacherRanking` of ``need`` (:class:`~recbole_rd.distill.base.TeacherNeed`) for
    each training instance of ``dataset`` (or the instances ``range(*rows)``), excluding the
    padding item and the instance's own targets.

    Scores are computed in chunks of ``chunk_size`` instances (default: see
    :func:`rows_per_block`), so memory never grows with instances x items. Models with
    a :func:`block_scorer` (this plugin's, most RecBole ones) are also scored in blocks of ``item_block`` items when
    a chunk would hold more than ``SCORE_BUDGET`` scores, so memory stays bounded for
    any catalogue size. ``show_progress``: a tqdm bar with instances/s.
    """
    first, stop = rows or (0, len(dataset))
    n_items, K = dataset.item_num, need.n
    chunk_size = chunk_size or rows_per_block(n_items)
    scorer = block_scorer(teacher)  # probes a RecBole teacher once per pass
    item_block = item_block or items_per_block(teacher, n_items, chunk_size, K, scorer)
    if item_block < n_items:
        tops = ((start - first, _topk_by_item_blocks(teacher, scorer, dataset.inter_feat[start:min(stop, start + chunk_size)]
                                                     .to(device), K, n_items, item_block))
                for start in range(first, stop, chunk_size))
    else:
        tops = ((offset, top_k(chunk_scores, K)) for offset, _, chunk_scores
                in scored_chunks(teacher, dataset, (first, stop), chunk_size, device, teacher.POS_ITEM_ID))
    return collected_ranking(tops, stop - first, need, progress_bar(stop - first, f"Teacher top-{K}", show_progress))


def collected_ranking(tops, n, need, bar, row_field=INSTANCE_ID):
    """The :class:`TeacherRanking` of ``n`` rows from ``tops``, ``(offset, (scores, ids))`` of blocks of
    rows; ``bar``: a :func:`progress_bar`, advanced per block and closed."""
    ids = torch.empty(n, need.n, dtype=ID_DTYPE)
    scores = torch.empty(n, need.n, dtype=SCORE_DTYPE) if need.scores else None
    for offset, (values, index) in tops:
        ids[offset:offset + len(index)] = index.cpu()
        if scores is not None:
            scores[offset:offset + len(index)] = values.clamp(-FLOAT16_MAX, FLOAT16_MAX).cpu()
        bar.update(len(index))
    bar.close()
    return TeacherRanking(ids, scores, row_field)


def teacher_topk(teacher, dataset, K, device, chunk_size=None, rows=None, item_block=None):
    """``[instances, K]`` int32 teacher top-K item ids: the ids of :func:`teacher_ranking`."""
    return teacher_ranking(teacher, dataset, TeacherNeed(K), device, chunk_size, rows, item_block).ids


def _mask_padding_and_targets(scores, targets, low=0):
    """``scores`` of items ``low..low+n-1`` with the padding item 0 and each row's
    ``targets`` set to -inf (in place), so that the top-K never contains them."""
    if low == 0:
        scores[:, 0] = -torch.inf
    inside = (targets >= low) & (targets < low + scores.size(1))
    row = torch.arange(len(scores), device=targets.device).unsqueeze(1).expand_as(targets)
    scores[row[inside], targets[inside] - low] = -torch.inf
    return scores


def _topk_by_item_blocks(teacher, scorer, interaction, K, n_items, item_block):
    """:func:`topk_over_item_blocks` of instances; ``scorer``: the teacher's :func:`block_scorer`."""
    state, targets = scorer[0](interaction), targets_of(interaction, teacher.POS_ITEM_ID)
    return topk_over_item_blocks(lambda items: scorer[1](state, items),
                                 lambda scores, low: _mask_padding_and_targets(scores, targets, low),
                                 K, n_items, item_block, targets.device)


def topk_over_item_blocks(score_items, mask, K, n_items, item_block, device):
    """``(scores, item ids)`` ``[rows, K]`` of the top-K over blocks of ``item_block`` items, merged
    block by block: ``score_items(items)`` gives a block's ``[rows, len(items)]`` scores and
    ``mask(scores, low)`` sets those the top-K may not hold to -inf (in place; ``low``: the block's
    first item). Memory: one block of scores and the running top-K."""
    best_scores = best_items = None
    for low in range(0, n_items, item_block):
        items = torch.arange(low, min(n_items, low + item_block), device=device)
        scores = mask(score_items(items), low)
        values, index = top_k(scores, min(K, len(items)))
        if best_scores is not None:
            values, index = torch.cat([best_scores, values], 1), torch.cat([best_items, index + low], 1)
            values, pick = values.topk(K, dim=1)
            index = index.gather(1, pick)
        else:
            index = index + low
        best_scores, best_items = values, index
    return best_scores, best_items


def sharded_teacher_ranking(teacher, dataset, need, device, show_progress=False):
    """:func:`teacher_ranking` of all instances, each DDP rank its shard (:func:`sharded_ranking`)."""
    return sharded_ranking(lambda rows, show: teacher_ranking(teacher, dataset, need, device, rows=rows,
                                                              show_progress=show),
                           len(dataset), need, show_progress)


def sharded_ranking(ranking_pass, n, need, show_progress=False, unit="instance"):
    """The ranking of rows ``0..n-1``, ``ranking_pass(rows, show_progress)`` giving rows ``range(*rows)``: in
    DDP mode each rank passes over its shard (progress bar on rank 0) and the shards are gathered, so the
    pass is done once in all. Logs the duration (``unit``: what a row is)."""
    start = time.perf_counter()
    part = ranking_pass(distributed.shard(n), show_progress and distributed.rank() == 0)
    ranking = replace(part, ids=distributed.gather_shards(part.ids, n),
                      scores=None if part.scores is None else distributed.gather_shards(part.scores, n))
    seconds = time.perf_counter() - start
    getLogger().info(f"Teacher top-{need.n} pass{' with scores' if need.scores else ''}: {n} {unit}s "
                     f"in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f} {unit}s/s)")
    return ranking


__all__ = ["load_teacher", "TeacherRanking", "scored_chunks", "teacher_ranking", "teacher_topk",
           "topk_over_item_blocks", "collected_ranking", "sharded_ranking", "sharded_teacher_ranking"]
