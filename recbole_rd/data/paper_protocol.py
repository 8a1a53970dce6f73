"""The RD paper's evaluation protocol: per-user 70/10/20 time split, set prediction.

Each user's check-ins in time order are split into train (first 70%), validation
(next 10%) and test (last 20%). Evaluating a period gives one ranking per user,
from the last items before the period, over all items except those the user
visited before the period; the relevant set is every item of the period.
Selected with ``eval_protocol: paper`` (split ratios: ``paper_split``).

This module splits and builds the periods (:class:`~recbole_rd.data.period.PeriodEvalData`); the
evaluator evaluates them (:func:`recbole_rd.evaluator.evaluate_period`) with the metrics the config
asks for (:func:`recbole_rd.evaluator.with_settings`).
"""

import torch
from recbole.data.interaction import Interaction
from recbole.data.utils import get_dataloader

from recbole_rd.data.dataset import DatasetError
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.sparse import pair_csr
from recbole_rd.utils import ConfigError

PROTOCOLS = ("recbole", "paper")


def _csr(rows, items, n_rows, n_items):
    """CSR (indptr, items) of (row, item) pairs, duplicates removed."""
    keys, indptr = pair_csr(rows, items, n_rows, n_items)
    return indptr, keys % n_items


def user_positions(users):
    """0-based position of each row among its user's rows (rows grouped by user)."""
    idx = torch.arange(len(users))
    starts = torch.ones(len(users), dtype=torch.bool)
    starts[1:] = users[1:] != users[:-1]
    first = torch.cummax(torch.where(starts, idx, torch.zeros_like(idx)), 0).values
    return idx - first


def _check_split(split):
    ok = (isinstance(split, (list, tuple)) and len(split) == 3 and all(isinstance(x, (int, float)) for x in split)
          and all(x > 0 for x in split) and abs(sum(split) - 1) < 1e-6)
    if not ok:
        raise ConfigError(f"paper_split: {split!r} is invalid; allowed: three positive ratios summing to 1, "
                          f"e.g. [0.7, 0.1, 0.2]")
    return split


def paper_data_preparation(config, dataset):
    """(train dataloader, validation period, test period) under the paper's protocol.

    ``dataset`` is RecBole's augmented ``SequentialDataset`` (one row per target,
    rows grouped by user in time order).
    """
    split = _check_split(config["paper_split"] or [0.7, 0.1, 0.2])
    if not isinstance(dataset.inter_feat, Interaction):
        dataset._change_feat_format()  # what RecBole's build() does first: tensors, augmentation
    feat = dataset.inter_feat
    uid, iid = dataset.uid_field, dataset.iid_field
    seq_field = iid + config["LIST_SUFFIX"]
    users, targets = feat[uid], feat[iid]
    target_pos = user_positions(users) + 1  # position of the target in the user's full sequence
    starts = torch.nonzero(target_pos == 1).squeeze(1)
    seq_users = users[starts]
    n_seq = torch.bincount(users, minlength=dataset.user_num)[seq_users] + 1
    # floor(n * ratio), tolerant to 0.7 + 0.1 = 0.7999999999999999
    n_train = torch.floor(n_seq.double() * split[0] + 1e-9).long().clamp(min=1)
    n_before_test = torch.floor(n_seq.double() * (split[0] + split[1]) + 1e-9).long().clamp(min=1)

    # full sequences as a padded [users, max_len] matrix: first item, then the targets
    row_user = torch.repeat_interleave(torch.arange(len(seq_users)), n_seq - 1)
    seqs = torch.zeros(len(seq_users), int(n_seq.max()), dtype=torch.long)
    seqs[:, 0] = feat[seq_field][starts, 0]
    seqs[row_user, target_pos] = targets

    train_rows = target_pos < n_train[row_user]
    if not bool(train_rows.any()):
        raise DatasetError("paper protocol: no training instance left; users need more interactions "
                           "(raise user_inter_num_interval)")
    train_dataset = dataset.copy(feat[train_rows])
    train_data = get_dataloader(config, "train")(config, train_dataset, None, shuffle=config["shuffle"])
    window = config["MAX_ITEM_LIST_LENGTH"]
    periods = [period(dataset, seqs, seq_users, begin, end, window, config["eval_batch_size"])
               for begin, end in ((n_train, n_before_test), (n_before_test, n_seq))]
    return (train_data, *periods)


def period(dataset, seqs, seq_users, begin, end, window, batch_size):
    """Evaluation data for positions ``begin..end-1`` of each user's sequence."""
    keep = end > begin
    seqs, users, begin, end = seqs[keep], seq_users[keep], begin[keep], end[keep]
    cols = torch.arange(seqs.size(1))
    before = cols.unsqueeze(0) < begin.unsqueeze(1)
    inside = (cols.unsqueeze(0) >= begin.unsqueeze(1)) & (cols.unsqueeze(0) < end.unsqueeze(1))
    lengths = begin.clamp(max=window)
    # left-aligned window of the last `lengths` items before the period (RecBole's layout)
    idx = (begin - lengths).unsqueeze(1) + torch.arange(window)
    windows = seqs.gather(1, idx.clamp(max=seqs.size(1) - 1)) * (torch.arange(window) < lengths.unsqueeze(1))
    excluded = _csr(torch.nonzero(before)[:, 0], seqs[before], len(users), dataset.item_num)
    relevant = _csr(torch.nonzero(inside)[:, 0], seqs[inside], len(users), dataset.item_num)
    return PeriodEvalData(dataset, users, windows, lengths, excluded, relevant, batch_size)
