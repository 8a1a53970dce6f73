"""The teacher's top-N on disk: computed once per teacher file, dataset (mappings and training
instances), N and need of scores, keyed by their sha256 (:func:`topk_cache_key`), read back only when
every check passes (a corrupt or stale file is recomputed, never trusted)."""

import hashlib
from logging import getLogger
from pathlib import Path

import torch

from recbole_rd import distributed
from recbole_rd.checkpoint import dataset_fingerprint
from recbole_rd.distill.base import TeacherNeed
from recbole_rd.distill.teacher import ID_DTYPE, INSTANCE_ID, SCORE_DTYPE, TeacherRanking, sharded_teacher_ranking
from recbole_rd.utils import atomic_write

TOPK_CACHE_FORMAT = "recbole-rd-topk/2"  # /2: int32 ids, optional float16 scores


def file_sha256(path):
    """The sha256 hex digest of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def topk_cache_key(teacher_path, dataset, need):
    """Fingerprint of the teacher file, the dataset (mappings and training instances) and
    what was computed (``need``: N, scores or not)."""
    digest = hashlib.sha256()
    digest.update(file_sha256(teacher_path).encode())
    digest.update(repr(sorted(dataset_fingerprint(dataset).items())).encode())
    for field in sorted(c for c in dataset.inter_feat.columns if c != INSTANCE_ID):
        digest.update(field.encode() + dataset.inter_feat[field].contiguous().numpy().tobytes())
    digest.update(f"{TOPK_CACHE_FORMAT} N={need.n} scores={bool(need.scores)}".encode())
    return digest.hexdigest()


def read_cache(path, key, n, need, n_items):
    """The :class:`TeacherRanking` of ``n`` rows in cache file ``path`` if it holds ``key`` and well-formed
    ids (and scores exactly where ``need`` asks for them), else None."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        ids, scores = state["topk"], state.get("scores")
        ok = (state.get("format") == TOPK_CACHE_FORMAT and state.get("key") == key
              and ids.shape == (n, need.n) and ids.dtype == ID_DTYPE
              and bool(((ids > 0) & (ids < n_items)).all())
              and (scores is None) == (not need.scores)
              and (scores is None or (scores.shape == ids.shape and scores.dtype == SCORE_DTYPE
                                      and bool(torch.isfinite(scores).all()))))
    except Exception:  # any unreadable file is recomputed, never trusted
        ok = False
    return TeacherRanking(ids, scores) if ok else None


def teacher_ranking_cached(teacher, teacher_path, dataset, need, device, cache_dir, show_progress=False):
    """``(TeacherRanking, cache path)``: :func:`sharded_teacher_ranking`, cached on disk under ``cache_dir``
    keyed by :func:`topk_cache_key` (:func:`cached_ranking`): a changed teacher, dataset, N or need of
    scores gives another key."""
    key = topk_cache_key(teacher_path, dataset, need)
    path = Path(cache_dir) / f"teacher-topk-{key[:20]}.pt"
    ranking = cached_ranking(path, key, len(dataset), dataset.item_num, need,
                             lambda: sharded_teacher_ranking(teacher, dataset, need, device, show_progress))
    return ranking, path


def cached_ranking(path, key, n, n_items, need, compute, unit="instance"):
    """The ranking of ``n`` rows cached in ``path`` under ``key``, else ``compute()`` written there
    (atomically, by rank 0); a corrupt file is recomputed. In DDP mode the cache is used only when every
    rank can read it."""
    logger = getLogger()
    ranking = read_cache(path, key, n, need, n_items) if path.is_file() else None
    if distributed.all_ranks_agree(ranking is not None):
        logger.info(f"Teacher top-{need.n} loaded from cache {path}")
        return ranking
    if path.is_file():
        logger.warning(f"Teacher top-K cache {path} is corrupt or stale: recomputing")
    ranking = compute()
    if distributed.rank() == 0:
        state = {"format": TOPK_CACHE_FORMAT, "key": key, "topk": ranking.ids}
        if ranking.scores is not None:
            state["scores"] = ranking.scores
        atomic_write(path, lambda f: torch.save(state, f))
    logger.info(f"Teacher top-{need.n} of {n} {unit}s cached in {path}")
    return ranking


def teacher_topk_cached(teacher, teacher_path, dataset, K, device, cache_dir):
    """``(ids, cache path)`` of :func:`teacher_ranking_cached` for a top-K without scores."""
    ranking, path = teacher_ranking_cached(teacher, teacher_path, dataset, TeacherNeed(K), device, cache_dir)
    return ranking.ids, path


__all__ = ["file_sha256", "topk_cache_key", "read_cache", "cached_ranking", "teacher_ranking_cached",
           "teacher_topk_cached"]
