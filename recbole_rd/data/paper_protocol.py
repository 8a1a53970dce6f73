"""The RD paper's evaluation protocol: per-user 70/10/20 time split, set prediction.

Each user's check-ins in time order are split into train (first 70%), validation
(next 10%) and test (last 20%). Evaluating a period gives one ranking per user,
from the last items before the period, over all items except those the user
visited before the period; the relevant set is every item of the period.
Selected with ``eval_protocol: paper`` (split ratios: ``paper_split``).
"""

from collections import OrderedDict

import torch
from recbole.data.interaction import Interaction
from recbole.data.utils import get_dataloader

from recbole_rd import distributed
from recbole_rd.data.dataset import DatasetError
from recbole_rd.model.layers import pair_csr, ragged_rows
from recbole_rd.utils import ConfigError

PAPER_TOPK = (3, 5, 10)
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


class PeriodEvalData:
    """One evaluation period: a batch iterator of users with their window, the items
    to exclude (visited before the period) and the relevant items (the period)."""

    def __init__(self, dataset, users, windows, lengths, excluded, relevant, batch_size):
        self._dataset = dataset
        self.users, self.windows, self.lengths = users, windows, lengths
        self.excluded, self.relevant = excluded, relevant  # CSR over positions in `users`
        self.batch_size = batch_size
        self.uid, self.iid = dataset.uid_field, dataset.iid_field
        self.seq_field = self.iid + dataset.config["LIST_SUFFIX"]
        self.len_field = dataset.config["ITEM_LIST_LENGTH_FIELD"]

    def __len__(self):
        return (len(self.users) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        return self.batches(0, len(self.users))

    def batches(self, first, stop):
        """Batches of the users at positions ``first..stop-1``."""
        for start in range(first, stop, self.batch_size):
            rows = torch.arange(start, min(start + self.batch_size, stop))
            interaction = Interaction({self.uid: self.users[rows], self.seq_field: self.windows[rows],
                                       self.len_field: self.lengths[rows]})
            yield interaction, ragged_rows(self.excluded[0], rows), ragged_rows(self.relevant[0], rows), rows

    @torch.no_grad()
    def scores(self, model, batch, device):
        """Scores ``[B, n_items]`` with padding and excluded items at ``-inf``."""
        interaction, (ex_row, ex_flat), _, _ = batch
        scores = model.full_sort_predict(interaction.to(device)).view(len(interaction), -1).clone()
        scores[:, 0] = -torch.inf
        scores[ex_row.to(device), self.excluded[1][ex_flat].to(device)] = -torch.inf
        return scores

    @torch.no_grad()
    def evaluate(self, model, device, per_user=False):
        """Precision@3/5/10, nDCG@3/5/10 and full-ranking MAP, averaged over users
        (``per_user=True``: a tensor per metric, one value per user).

        In DDP mode each rank scores its share of the users and the sums are
        all-reduced (``per_user`` then gives this rank's users only).
        """
        model.eval()
        parts = {name: [] for name in metric_names()}
        for batch in self.batches(*distributed.shard(len(self.users))):
            scores = self.scores(model, batch, device)
            _, _, (rel_row, rel_flat), _ = batch
            relevant = torch.zeros_like(scores, dtype=torch.bool)
            relevant[rel_row.to(device), self.relevant[1][rel_flat].to(device)] = True
            for name, values in ranking_metrics(scores, relevant).items():
                parts[name].append(values.cpu())
        values = {name: torch.cat(v) if v else torch.zeros(0) for name, v in parts.items()}
        if per_user:
            return values
        sums = torch.tensor([float(v.double().sum()) for v in values.values()] + [len(values["map"])],
                            dtype=torch.float64)
        sums = distributed.all_reduce_sum(sums)
        return OrderedDict((name, round(float(sums[i] / sums[-1]), 4)) for i, name in enumerate(values))


def metric_names():
    return [f"precision@{k}" for k in PAPER_TOPK] + [f"ndcg@{k}" for k in PAPER_TOPK] + ["map"]


def ranking_metrics(scores, relevant):
    """Per-row P@k, nDCG@k (ideal DCG over min(|rel|, k)) and MAP over the full ranking
    (AP divided by |rel|; relevant items scored -inf are never retrieved)."""
    n_rel = relevant.sum(1).float()
    top = scores.topk(min(max(PAPER_TOPK), scores.size(1)), dim=1).indices
    hits = relevant.gather(1, top) & torch.isfinite(scores.gather(1, top))
    discount = 1.0 / torch.log2(torch.arange(2, top.size(1) + 2, device=scores.device).float())
    out = {}
    for k in PAPER_TOPK:
        out[f"precision@{k}"] = hits[:, :k].sum(1).float() / k
    for k in PAPER_TOPK:
        dcg = (hits[:, :k].float() * discount[:k]).sum(1)
        ideal = torch.cumsum(discount[:k], 0)[(n_rel.clamp(min=1, max=k) - 1).long()]
        out[f"ndcg@{k}"] = dcg / ideal
    order = scores.argsort(dim=1, descending=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(1, scores.size(1) + 1, device=scores.device)
                                            .expand_as(order).contiguous())
    reachable = relevant & torch.isfinite(scores)
    rel_ranks = torch.where(reachable, rank.float(), torch.full_like(scores, torch.inf)).sort(1).values
    width = int(reachable.sum(1).max()) if reachable.any() else 1
    rel_ranks = rel_ranks[:, :width]
    position = torch.arange(1, width + 1, device=scores.device).float()
    out["map"] = torch.where(torch.isfinite(rel_ranks), position / rel_ranks, 0.0).sum(1) / n_rel.clamp(min=1)
    return out


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
    if config["valid_metric"].lower() not in metric_names():
        raise ConfigError(f"valid_metric: '{config['valid_metric']}' is not computed by the paper protocol; "
                          f"allowed: {metric_names()}")
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
