"""A teacher given as a file of rankings (config key ``teacher_rankings``), for a teacher outside
RecBole (a production ranker, an LLM recommender): it replaces the teacher model and its top-N pass.

The file (docs/teacher-rankings.md) is read and checked before training
(:func:`~recbole_rd.distill.rankings_table.read_rankings`); here its lists become the
:class:`~recbole_rd.distill.teacher.TeacherRanking` of a sequential student's training instances
(:func:`file_teacher_ranking`, cached, keyed by the file's sha256) or of a general student's users
(:func:`file_user_ranking`). :func:`rankings_provenance` is the record a comparison keeps of the file;
:func:`rankings_frame` writes a checkpoint teacher's ranking in the same format.
"""

import hashlib
from logging import getLogger
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_rd import distributed
from recbole_rd.distill.rankings_table import DROP_KEY, KEY, existing_file, read_rankings, timestamp_text
from recbole_rd.distill.teacher import (
    FLOAT16_MAX,
    ID_DTYPE,
    SCORE_DTYPE,
    TeacherRanking,
    targets_of,
)
from recbole_rd.distill.topk_cache import TOPK_CACHE_FORMAT, file_sha256, read_cache, topk_cache_key
from recbole_rd.errors import ConfigError, DatasetError
from recbole_rd.utils import atomic_write

BLOCK_ROWS = 1 << 16  # instances whose lists are copied at once: bounds memory to BLOCK_ROWS x longest list


def file_teacher_ranking(config, dataset, need):
    """``(TeacherRanking, cache path)`` of every training instance of sequential ``dataset`` from the
    file ``config['teacher_rankings']`` (``need``: the method's :class:`TeacherNeed`).

    A file with a ``timestamp`` column gives one list per instance (keyed by user and the timestamp of
    the interaction it predicts), one without gives one list per user, used for each of the user's
    instances. The instance's own target is dropped from its list with a warning (as the teacher pass
    of a checkpoint leaves it out), then the first N items are kept; a list shorter than that, an
    instance without a list or scores missing where the method needs them are refused. Cached under
    ``topk_cache_dir`` (default ``checkpoint_dir``), keyed by :func:`rankings_cache_key`.
    Config keys: ``teacher_rankings``, ``teacher_rankings_drop_unknown``, ``distill_method``.
    """
    path = existing_file(config[KEY])
    if config["teacher_checkpoint"]:
        getLogger().warning(f"{KEY} is set: the teacher's rankings come from {path}; teacher_checkpoint "
                            f"{config['teacher_checkpoint']} is not used")
    drop = drop_unknown(config)
    key = rankings_cache_key(path, dataset, need, drop)
    cache = Path(config["topk_cache_dir"] or config["checkpoint_dir"]) / f"teacher-rankings-{key[:20]}.pt"
    ranking = read_cache(cache, key, len(dataset), need, dataset.item_num) if cache.is_file() else None
    if ranking is not None:
        getLogger().info(f"Teacher top-{need.n} of {path} loaded from cache {cache}")
        return ranking, cache
    lists = read_rankings(path, dataset, drop)
    refuse_missing_scores(lists, need, config)
    users = dataset.inter_feat[dataset.uid_field].numpy()
    index = keyed_lists(lists, users, instance_timestamps(lists, dataset) if lists.per_instance else None)
    refuse_missing_lists(index, lists, dataset, users)
    ranking, dropped = first_n_without(lists, index, own_targets(dataset), need, config)
    if dropped:
        getLogger().warning(f"{KEY} {path}: the lists of {dropped} training instances held the item the instance "
                            f"predicts (its target); dropped, as the teacher pass of a checkpoint leaves it out")
    if distributed.rank() == 0:
        state = {"format": TOPK_CACHE_FORMAT, "key": key, "topk": ranking.ids}
        if ranking.scores is not None:
            state["scores"] = ranking.scores
        atomic_write(cache, lambda f: torch.save(state, f))
    getLogger().info(f"Teacher top-{need.n} of {len(dataset)} instances read from {path}, cached in {cache}")
    return ranking, cache


def file_user_ranking(config, dataset, need):
    """:class:`TeacherRanking` ``[n_users, N]`` indexed by internal user id (``row_field``: the user id
    field), for a general student, from
    a file of one list per user (no ``timestamp`` column): each user's training items (``dataset``'s
    interactions) are dropped with a warning, then the first N items kept. Users without training
    interactions (and the padding user 0) get a row of 0s. Same keys and refusals as
    :func:`file_teacher_ranking`; not cached (no teacher pass to save)."""
    path = Path(config[KEY])
    lists = read_rankings(path, dataset, drop_unknown(config))
    refuse_missing_scores(lists, need, config)
    if lists.per_instance:
        raise DatasetError(f"{lists.file}: a general student needs one list per user; drop the timestamp column "
                           f"(it gives one list per training instance, for sequential students)")
    users = torch.unique(dataset.inter_feat[dataset.uid_field]).numpy()
    index = keyed_lists(lists, users)
    refuse_missing_lists(index, lists, dataset, users)
    user_ranking, dropped = first_n_without(lists, index, users_training_items(dataset, users), need, config)
    if dropped:
        getLogger().warning(f"{KEY} {path}: the lists of {dropped} users held items of their training interactions; "
                            f"dropped, as a general teacher's top-N leaves them out")
    ids = torch.zeros(dataset.user_num, need.n, dtype=ID_DTYPE)
    ids[users] = user_ranking.ids
    scores = None
    if user_ranking.scores is not None:
        scores = torch.zeros(dataset.user_num, need.n, dtype=SCORE_DTYPE)
        scores[users] = user_ranking.scores
    return TeacherRanking(ids, scores, row_field=dataset.uid_field)


def own_targets(dataset):
    """``excluded(rows, items)`` of :func:`first_n_without` for training instances: each one's targets."""
    targets = targets_of(dataset.inter_feat, dataset.iid_field)
    return lambda rows, items: (items[:, :, None] == targets[rows, None, :]).any(2)


def users_training_items(dataset, users):
    """``excluded(rows, items)`` of :func:`first_n_without` for the rows ``users``: their training items."""
    inter, n_items = dataset.inter_feat, dataset.item_num
    trained = torch.unique(inter[dataset.uid_field] * n_items + inter[dataset.iid_field])
    users = torch.from_numpy(users)
    return lambda rows, items: torch.isin(users[rows, None] * n_items + items, trained)


def instance_timestamps(lists, dataset):
    """The timestamps of the training instances' targets, which key a file of one list per instance."""
    if dataset.time_field is None or dataset.time_field not in dataset.inter_feat:
        raise DatasetError(f"{lists.file} has a timestamp column (one list per training instance), but dataset "
                           f"{dataset.dataset_name} loads no time field; load it (load_col) or drop the column "
                           f"to give one list per user")
    return dataset.inter_feat[dataset.time_field].numpy()


def drop_unknown(config):
    value = config[DROP_KEY]
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{DROP_KEY}: {value!r} is invalid; allowed: True or False")
    return bool(value)


def refuse_missing_scores(lists, need, config):
    if need.scores and lists.scores is None:
        raise ConfigError(f"{lists.file} has no score column, and distill_method "
                          f"{config['distill_method']} needs the teacher's scores of its top {need.n}; add a score "
                          f"column, or choose a method that needs ranks only (rd, rrd, dcd)")


def keyed_lists(lists, users, timestamps=None):
    """The list of each row (users, and with ``timestamps`` the times of their targets): its index in
    ``lists``, -1 where the file holds none."""
    if timestamps is None:
        lookup = np.full(int(max(users.max(), lists.users.max())) + 1, -1)
        lookup[lists.users] = np.arange(len(lists.users))
        return lookup[users]
    rows = pd.DataFrame({"user": users, "timestamp": timestamps.astype(np.float32)})
    keyed = pd.DataFrame({"user": lists.users, "timestamp": lists.timestamps, "list": np.arange(len(lists.users))})
    return rows.merge(keyed, how="left", on=["user", "timestamp"])["list"].fillna(-1).astype(np.int64).to_numpy()


def refuse_missing_lists(index, lists, dataset, users):
    """Refuse rows without a list (naming the first); log the lists no row uses."""
    missing = index < 0
    if missing.any():
        first = int(missing.argmax())
        user = dataset.id2token(dataset.uid_field, int(users[first]))
        if lists.per_instance:
            at = timestamp_text(dataset.inter_feat[dataset.time_field][first])
            raise DatasetError(f"{lists.file}: {int(missing.sum())} training instances have no list, e.g. user "
                               f"{user!r} at timestamp {at}; a file with a timestamp column needs one list per "
                               f"training instance (its user and the timestamp of the interaction it predicts), or "
                               f"drop that column to give one list per user")
        raise DatasetError(f"{lists.file}: {int(missing.sum())} users with training interactions have no list, "
                           f"e.g. user {user!r}; the file needs one list per user")
    unused = len(lists.users) - len(np.unique(index))
    if unused:
        getLogger().info(f"{lists.file}: {unused} lists match no training row (e.g. validation or test "
                         f"interactions): not used")


def first_n_without(lists, index, excluded, need, config):
    """``(TeacherRanking, rows that dropped items)``: for each row the first ``need.n`` items of its list
    ``index[row]`` not ``excluded(rows, items)`` (a bool mask of the items to drop); refuses a list that
    keeps fewer, naming its line."""
    n, N = len(index), need.n
    ids = torch.empty(n, N, dtype=ID_DTYPE)
    scores = torch.empty(n, N, dtype=SCORE_DTYPE) if need.scores else None
    dropped = 0
    for start in range(0, n, BLOCK_ROWS):
        rows = torch.arange(start, min(n, start + BLOCK_ROWS))
        lists_of_rows = torch.from_numpy(index[rows.numpy()])
        items = lists.items[lists_of_rows]
        drop = excluded(rows, items) & (items > 0)
        keep = (items > 0) & ~drop
        counts = keep.sum(1)
        if bool((counts < N).any()):
            refuse_short_list(lists, int(lists_of_rows[int((counts < N).long().argmax())]), N, config)
        chosen = keep & (keep.cumsum(1) <= N)
        ids[rows] = items[chosen].view(-1, N).to(ID_DTYPE)
        if scores is not None:
            chosen_scores = lists.scores[lists_of_rows][chosen].view(-1, N)
            scores[rows] = chosen_scores.clamp(-FLOAT16_MAX, FLOAT16_MAX).to(SCORE_DTYPE)
        dropped += int(drop.any(1).sum())
    return TeacherRanking(ids, scores), dropped


def refuse_short_list(lists, list_index, N, config):
    length = int((lists.items[list_index] > 0).sum())
    raise DatasetError(f"{lists.describe(list_index)} has {length} items, fewer than the top {N} distill_method "
                       f"{config['distill_method']} needs once the training items it may not rank are dropped "
                       f"(docs/teacher-rankings.md); give longer lists, or lower the method's N "
                       f"(K, cd_N, rrd_N, dcd_N)")


def rankings_cache_key(path, dataset, need, drop=False):
    """The cache key of the ranking read from ``path``: :func:`topk_cache_key` (the file's sha256, the
    dataset's mappings and instances, N, scores) and how unknown tokens are treated."""
    digest = hashlib.sha256(topk_cache_key(path, dataset, need).encode())
    digest.update(f"{KEY} per training instance, {DROP_KEY}={drop}".encode())
    return digest.hexdigest()


def rankings_provenance(path):
    """``{'teacher_rankings': path, 'sha256': ...}``: the record of the file a run distilled from."""
    return {KEY: str(path), "sha256": file_sha256(path)}


def rankings_frame(dataset, ranking):
    """``ranking`` (a :class:`TeacherRanking` of ``dataset``) in the file format, as tokens: one list per
    training instance (``user_id, timestamp, item_id, rank``) or, for a general student's ranking, one
    per user with a list (``user_id, item_id, rank``); ``score`` where the ranking has scores."""
    ids, N = ranking.ids.long(), ranking.ids.shape[1]
    if ranking.per_user:
        rows = torch.nonzero(ids.any(dim=1)).flatten()
        rows = rows[rows != 0]  # users with a list: not the padding user 0, nor one without training items
        columns = {"user_id": np.repeat(dataset.id2token(dataset.uid_field, rows.numpy()), N)}
    else:
        inter, rows = dataset.inter_feat, torch.arange(len(ids))
        columns = {"user_id": np.repeat(dataset.id2token(dataset.uid_field, inter[dataset.uid_field].numpy()), N),
                   "timestamp": np.repeat(inter[dataset.time_field].double().numpy(), N)}  # float32 exactly
    frame = pd.DataFrame({**columns, "item_id": dataset.id2token(dataset.iid_field, ids[rows].flatten().numpy()),
                          "rank": np.tile(np.arange(1, N + 1), len(rows))})
    if ranking.scores is not None:
        frame["score"] = ranking.scores[rows].float().flatten().numpy()
    return frame


__all__ = ["file_teacher_ranking", "file_user_ranking", "rankings_cache_key", "rankings_provenance", "rankings_frame"]
