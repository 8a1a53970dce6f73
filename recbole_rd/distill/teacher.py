"""Loading a teacher safely and computing its top-K ranking for every training instance."""

import copy
import hashlib
from logging import getLogger
from pathlib import Path

import torch

from recbole_rd import distributed
from recbole_rd.checkpoint import (
    check_same_data,
    dataset_fingerprint,
    load_checkpoint,
    load_weights,
)
from recbole_rd.ranking import top_k
from recbole_rd.utils import atomic_write, get_model

TOPK_CACHE_FORMAT = "recbole-rd-topk/1"
INSTANCE_ID = "rd_instance_id"  # training-row index added to the train dataset
# scores held at once when ranking all items (32 MiB of float32): blocks this small keep the
# score matrix near the CPU caches (measured: GEMM 1.2-1.5x faster than with 128 MiB blocks)
SCORE_BUDGET = 2**23


MIN_BLOCK_ROWS = 256  # fewer rows per product leave the GEMM starved (measured 10x slower at 59 rows)


def rows_per_block(n_items, budget=SCORE_BUDGET):
    """Rows scored at once against ``n_items`` items: ``budget`` scores, but at least
    ``MIN_BLOCK_ROWS`` rows (memory then ``MIN_BLOCK_ROWS x n_items`` scores)."""
    return max(MIN_BLOCK_ROWS, min(8192, budget // n_items))


def items_per_block(model, n_items, rows, K):
    """Items scored at once for ``rows`` rows: all of them, or for models with
    ``score_shared`` as many as keep ``rows x items`` within ``SCORE_BUDGET``."""
    return max(K, SCORE_BUDGET // rows) if hasattr(model, "score_shared") else n_items


def derived_config(config, **overrides):
    """A copy of a RecBole ``Config`` with some keys replaced (the original is untouched)."""
    derived = copy.copy(config)
    derived.final_config_dict = {**config.final_config_dict, **overrides}
    return derived


def load_teacher(config, dataset, path):
    """Rebuild the teacher recorded in checkpoint ``path`` on ``dataset``, frozen in eval mode.

    Refuses checkpoints that are unsafe, corrupt, or trained on other data.
    """
    state = load_checkpoint(path, map_location=config["device"])
    check_same_data(state, dataset, path, role="teacher checkpoint")
    model_class = get_model(state["model"])
    teacher_config = derived_config(config, **state["hyper_parameters"], model=state["model"])
    teacher = model_class(teacher_config, dataset).to(config["device"])
    load_weights(teacher, state, path)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher, state


def _targets(interaction, teacher):
    return interaction[teacher.POS_ITEM_ID].view(len(interaction), -1)


@torch.no_grad()
def teacher_topk(teacher, dataset, K, device, chunk_size=None, rows=None, item_block=None):
    """``[instances, K]`` teacher top-K item ids of each training instance of ``dataset``
    (or of the instances ``range(*rows)``), excluding the padding item and the
    instance's own targets.

    Scores are computed in chunks of ``chunk_size`` instances (default: see
    :func:`rows_per_block`), so memory never grows with instances x items. Models with
    ``score_shared`` (this plugin's) are also scored in blocks of ``item_block`` items when
    a chunk would hold more than ``SCORE_BUDGET`` scores, so memory stays bounded for
    any catalogue size.
    """
    first, stop = rows or (0, len(dataset))
    n_items = dataset.item_num
    chunk_size = chunk_size or rows_per_block(n_items)
    item_block = item_block or items_per_block(teacher, n_items, chunk_size, K)
    out = torch.empty(stop - first, K, dtype=torch.long)
    for start in range(first, stop, chunk_size):
        interaction = dataset.inter_feat[start:min(stop, start + chunk_size)].to(device)
        if item_block < n_items:
            top = _topk_by_item_blocks(teacher, interaction, K, n_items, item_block)
        else:
            scores = teacher.full_sort_predict(interaction).view(len(interaction), n_items)
            top = top_k(_mask_padding_and_targets(scores, _targets(interaction, teacher)), K)[1]
        out[start - first:start - first + len(interaction)] = top.cpu()
    return out


def _mask_padding_and_targets(scores, targets, low=0):
    """``scores`` of items ``low..low+n-1`` with the padding item 0 and each row's
    ``targets`` set to -inf (in place), so that the top-K never contains them."""
    if low == 0:
        scores[:, 0] = -torch.inf
    inside = (targets >= low) & (targets < low + scores.size(1))
    row = torch.arange(len(scores), device=targets.device).unsqueeze(1).expand_as(targets)
    scores[row[inside], targets[inside] - low] = -torch.inf
    return scores


def _topk_by_item_blocks(teacher, interaction, K, n_items, item_block):
    """Top-K item ids over blocks of ``item_block`` items, merged block by block."""
    state = teacher.encode(interaction)
    targets = _targets(interaction, teacher)
    best_scores = best_items = None
    for low in range(0, n_items, item_block):
        items = torch.arange(low, min(n_items, low + item_block), device=targets.device)
        scores = _mask_padding_and_targets(teacher.score_shared(state, items), targets, low)
        values, index = top_k(scores, min(K, len(items)))
        if best_scores is not None:
            values, index = torch.cat([best_scores, values], 1), torch.cat([best_items, index + low], 1)
            values, pick = values.topk(K, dim=1)
            index = index.gather(1, pick)
        else:
            index = index + low
        best_scores, best_items = values, index
    return best_items


def sharded_teacher_topk(teacher, dataset, K, device):
    """:func:`teacher_topk` of all instances; in DDP mode each rank scores its shard and
    the shards are gathered, so the pass is done once in all, not once per rank."""
    n = len(dataset)
    return distributed.gather_shards(teacher_topk(teacher, dataset, K, device, rows=distributed.shard(n)), n)


def _file_sha(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def topk_cache_key(teacher_path, dataset, K):
    """Fingerprint of the teacher file, the dataset (mappings and training instances) and K."""
    digest = hashlib.sha256()
    digest.update(_file_sha(teacher_path).encode())
    digest.update(repr(sorted(dataset_fingerprint(dataset).items())).encode())
    for field in sorted(c for c in dataset.inter_feat.columns if c != INSTANCE_ID):
        digest.update(field.encode() + dataset.inter_feat[field].contiguous().numpy().tobytes())
    digest.update(str(K).encode())
    return digest.hexdigest()


def _read_cache(path, key, n, K, n_items):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        topk = state["topk"]
        ok = (state.get("format") == TOPK_CACHE_FORMAT and state.get("key") == key
              and topk.shape == (n, K) and topk.dtype == torch.long
              and bool(((topk > 0) & (topk < n_items)).all()))
    except Exception:  # any unreadable file is recomputed, never trusted
        ok = False
    return topk if ok else None


def teacher_topk_cached(teacher, teacher_path, dataset, K, device, cache_dir):
    """:func:`teacher_topk`, cached on disk under ``cache_dir`` keyed by :func:`topk_cache_key`.

    A changed teacher, dataset or K gives another key; a corrupt file is recomputed.
    In DDP mode the cache is used only when every rank can read it, and rank 0 writes it.
    """
    logger = getLogger()
    key = topk_cache_key(teacher_path, dataset, K)
    path = Path(cache_dir) / f"teacher-topk-{key[:20]}.pt"
    topk = _read_cache(path, key, len(dataset), K, dataset.item_num) if path.is_file() else None
    if distributed.all_ranks_agree(topk is not None):
        logger.info(f"Teacher top-{K} loaded from cache {path}")
        return topk, path
    if path.is_file():
        logger.warning(f"Teacher top-K cache {path} is corrupt or stale: recomputing")
    topk = sharded_teacher_topk(teacher, dataset, K, device)
    if distributed.rank() == 0:
        atomic_write(path, lambda f: torch.save({"format": TOPK_CACHE_FORMAT, "key": key, "topk": topk}, f))
    logger.info(f"Teacher top-{K} of {len(dataset)} instances cached in {path}")
    return topk, path


__all__ = ["derived_config", "load_teacher", "teacher_topk", "sharded_teacher_topk", "teacher_topk_cached"]
