"""The teacher's top-N of every user, for a general student (``BPRRD``, ``NeuMFRD``, ``LightGCNRD``, ...):
each user's best items but the padding item and the items of the user's training interactions. Users
are scored against items in blocks (never users x items at once), the top-N merged block by block, and
the result cached on disk as the per-instance ranking of :mod:`recbole_rd.distill.teacher` is."""

import hashlib
from dataclasses import replace
from pathlib import Path

import torch
from recbole.data.interaction import Interaction
from recbole.utils import ModelType

from recbole_rd.distill.teacher import (
    MIN_BLOCK_ROWS,
    SCORE_BUDGET,
    _mask_padding_and_targets,
    collected_ranking,
    progress_bar,
    rows_per_block,
    sharded_ranking,
    topk_over_item_blocks,
)
from recbole_rd.distill.topk_cache import cached_ranking, topk_cache_key
from recbole_rd.errors import ConfigError
from recbole_rd.model.general_recommender.block_scoring import block_scoring
from recbole_rd.sparse import UserHistory

MAX_BLOCK_USERS = 8192
GENERAL_TYPES = (ModelType.GENERAL, ModelType.TRADITIONAL)


def ranks_users(config):
    """Whether the student of ``config`` is distilled from a ranking per user (a general model), not
    per training instance (a sequential one)."""
    return config["MODEL_TYPE"] in GENERAL_TYPES


def training_items(dataset):
    """Each user's training items (the interactions of ``dataset``), as a :class:`UserHistory`."""
    return UserHistory.from_dataset(dataset, dataset.uid_field, dataset.iid_field, None)


def padded_items(history, users):
    """``[len(users), longest]`` the training items of each of ``users``, padded with -1 (no item): the
    ``targets`` of :func:`~recbole_rd.distill.teacher._mask_padding_and_targets`."""
    row, items = history.rows(users)
    counts = history.counts(users)
    padded = torch.full((len(users), int(counts.max()) if len(users) else 0), -1, dtype=torch.long,
                        device=users.device)
    column = torch.arange(len(row), device=users.device) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    padded[row, column] = items
    return padded


def user_blocks(scoring, model, n_items, K):
    """``(users, items)`` scored at once: about ``SCORE_BUDGET`` floats (a :class:`Scoring` holding
    several floats per score gets fewer pairs), at least ``K`` items and, while the budget allows,
    ``MIN_BLOCK_ROWS`` users; a scoring of whole rows gets every item and :func:`rows_per_block` users."""
    if scoring.whole_rows:
        return rows_per_block(n_items), n_items
    pairs = max(K, SCORE_BUDGET // scoring.floats_per_score(model))
    items = min(n_items, max(K, pairs // MIN_BLOCK_ROWS))
    return max(1, min(MAX_BLOCK_USERS, pairs // items)), items


def check_general(model, role):
    if model.type not in GENERAL_TYPES:
        raise ConfigError(f"teacher_checkpoint: the {role} is a {model.type.name.lower()} model "
                          f"({type(model).__name__}); a general student learns one ranking per user, so its teacher must be a RecBole general "
                          f"model (BPR, LightGCN, NeuMF, ...) trained on the same data")


@torch.no_grad()
def user_teacher_ranking(teacher, dataset, need, device, rows=None, block=None, show_progress=False):
    """:class:`TeacherRanking` ``[users, N]`` of ``need`` (:class:`~recbole_rd.distill.base.TeacherNeed`),
    row ``u`` the internal user id ``u`` (``row_field``: the user id field), for every user of ``dataset``
    (or the users ``range(*rows)``): the teacher's best items but the padding item and the user's training
    items. ``block``: ``(users, items)`` scored at once (default :func:`user_blocks`); memory: one block of
    scores and the running top-N. ConfigError when a user has fewer than N items left to rank."""
    check_general(teacher, "teacher")
    first, stop = rows or (0, dataset.user_num)
    scoring = block_scoring(teacher)
    users_per_block, item_block = block or user_blocks(scoring, teacher, dataset.item_num, need.n)
    history, tables = training_items(dataset).to(device), scoring.tables(teacher)

    def block_top_n(start):
        users = torch.arange(start, min(stop, start + users_per_block), device=device)
        state, seen = scoring.encode(teacher, users, tables), padded_items(history, users)
        top = topk_over_item_blocks(lambda items: scoring.score_shared(teacher, state, items),
                                    lambda scores, low: _mask_padding_and_targets(scores, seen, low),
                                    need.n, dataset.item_num, item_block, device)
        refuse_short_rows(top[0], users, history, need.n)
        return start - first, top

    bar = progress_bar(stop - first, f"Teacher top-{need.n} per user", show_progress)
    return collected_ranking(map(block_top_n, range(first, stop, users_per_block)), stop - first, need, bar,
                             row_field=dataset.uid_field)


def refuse_short_rows(values, users, history, K):
    """ConfigError when a user's top-K holds a masked item (the user has fewer than K items to rank)."""
    short = torch.isneginf(values[:, -1])
    if bool(short.any()):
        user = int(users[short][0])
        raise ConfigError(f"the teacher's top-{K} per user: user (internal id) {user} has "
                          f"{int(history.counts(users[short][:1]))} "
                          f"training items, which leaves fewer than {K} of the {history.n_items - 1} items to rank; "
                          f"lower the method's N (K, cd_N, rrd_N, dcd_N)")


def user_scored_chunks(model, dataset, rows, chunk_size, device, target_field=None):
    """``(offset, interaction, scores)`` for chunks of ``chunk_size`` users of ``range(*rows)``, as
    :func:`~recbole_rd.distill.teacher.scored_chunks` gives them for instances: ``[chunk, n_items]``
    scores of general model ``model`` (in item blocks of :func:`user_blocks`) with the padding item and
    each user's training items at -inf. ``target_field`` is unused (the training items are the targets)."""
    first, stop = rows
    scoring, n_items = block_scoring(model), dataset.item_num
    history, tables = training_items(dataset).to(device), scoring.tables(model)
    item_block = user_blocks(scoring, model, n_items, 1)[1]
    for start in range(first, stop, chunk_size):
        users = torch.arange(start, min(stop, start + chunk_size), device=device)
        state = scoring.encode(model, users, tables)
        scores = torch.cat([scoring.score_shared(model, state, torch.arange(low, min(n_items, low + item_block),
                                                                            device=device))
                            for low in range(0, n_items, item_block)], 1)
        yield start - first, Interaction({dataset.uid_field: users}), _mask_padding_and_targets(
            scores, padded_items(history, users))


def user_topk_cache_key(teacher_path, dataset, need):
    """:func:`~recbole_rd.distill.topk_cache.topk_cache_key` (teacher file, data, training interactions, N,
    scores), marked per user."""
    return hashlib.sha256(f"{topk_cache_key(teacher_path, dataset, need)} per user".encode()).hexdigest()


def user_teacher_ranking_cached(teacher, teacher_path, dataset, need, device, cache_dir, show_progress=False):
    """``(TeacherRanking, cache path)``: :func:`user_teacher_ranking` of every user (in DDP mode each rank
    its shard of users, gathered), cached under ``cache_dir`` keyed by :func:`user_topk_cache_key`; a
    changed teacher, dataset, N or need of scores gives another key, a corrupt file is recomputed."""
    key = user_topk_cache_key(teacher_path, dataset, need)
    path = Path(cache_dir) / f"teacher-user-topk-{key[:20]}.pt"
    n = dataset.user_num

    def compute():
        return sharded_ranking(lambda rows, show: user_teacher_ranking(teacher, dataset, need, device, rows=rows,
                                                                       show_progress=show),
                               n, need, show_progress, unit="user")

    ranking = cached_ranking(path, key, n, dataset.item_num, need, compute, unit="user")
    return replace(ranking, row_field=dataset.uid_field), path


__all__ = ["ranks_users", "user_teacher_ranking", "user_teacher_ranking_cached", "user_scored_chunks",
           "training_items"]
