"""Sparse user-item sets as CSR tensors, shared by the models, the data split and the evaluator."""

import torch
from torch import nn


def ragged_rows(indptr, rows):
    """For CSR ``indptr`` and selected ``rows``: (row position, flat index) of every element."""
    starts, ends = indptr[rows], indptr[rows + 1]
    counts = ends - starts
    row_pos = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
    first = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
    flat = first + torch.arange(int(counts.sum()), device=rows.device)
    return row_pos, flat


def pair_csr(rows, items, n_rows, n_items):
    """Sorted unique ``row * n_items + item`` keys of (row, item) pairs, padding item 0
    dropped, and the CSR ``indptr`` of their rows."""
    keys = torch.unique(rows.long() * n_items + items.long())
    keys = keys[keys % n_items != 0]
    indptr = torch.zeros(n_rows + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(torch.bincount(keys // n_items, minlength=n_rows), 0)
    return keys, indptr


class UserHistory(nn.Module):
    """Each user's set of training items, as sorted ``user * n_items + item`` keys and CSR rows.

    Membership tests and negative sampling are vectorised (``searchsorted``); memory
    grows with the number of interactions, never users x items.
    """

    def __init__(self, users, items, n_users, n_items):
        super().__init__()
        self.n_items = n_items
        keys, indptr = pair_csr(users, items, n_users, n_items)
        self.register_buffer("keys", keys, persistent=False)
        self.register_buffer("items", keys % n_items, persistent=False)
        self.register_buffer("indptr", indptr, persistent=False)

    @classmethod
    def from_dataset(cls, dataset, uid_field, iid_field, seq_field):
        """Items seen by each user in a (sequential) RecBole dataset: targets and inputs."""
        feat = dataset.inter_feat
        users, items = [feat[uid_field]], [feat[iid_field]]
        if seq_field in feat:
            seq = feat[seq_field]
            users.append(feat[uid_field].unsqueeze(1).expand_as(seq).reshape(-1))
            items.append(seq.reshape(-1))
        return cls(torch.cat(users), torch.cat(items), dataset.user_num, dataset.item_num)

    def counts(self, users):
        return self.indptr[users + 1] - self.indptr[users]

    def contains(self, users, items):
        """Boolean tensor shaped like ``items``: is item in the user's history."""
        query = users.unsqueeze(-1) * self.n_items + items if items.dim() > users.dim() else users * self.n_items + items
        if self.keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp(max=self.keys.numel() - 1)
        return self.keys[pos] == query

    def contains_shared(self, users, items):
        """``[len(users), len(items)]``: is each of the same ``items`` in each user's history.
        One pass over these users' histories instead of a search per (user, item)."""
        row, seen = self.rows(users)
        unique, inverse = torch.unique(items, return_inverse=True)
        slot = torch.full((self.n_items,), -1, dtype=torch.long, device=items.device)
        slot[unique] = torch.arange(len(unique), device=items.device)
        hit = slot[seen]
        found = torch.zeros(len(users), len(unique), dtype=torch.bool, device=items.device)
        found[row[hit >= 0], hit[hit >= 0]] = True
        return found[:, inverse]

    def rows(self, users):
        """(row position in ``users``, item) for every history item of the given users."""
        row_pos, flat = ragged_rows(self.indptr, users)
        return row_pos, self.items[flat]

    def sample_uniform(self, *shape):
        """Items of the given shape drawn uniformly from all real items (seen ones too)."""
        return torch.randint(1, self.n_items, shape, device=self.keys.device)

    def sample_negatives(self, users, n, max_rounds=20):
        """``[len(users), n]`` items drawn uniformly among items the user never saw."""
        sample = self.sample_uniform(users.numel(), n)
        for _ in range(max_rounds):
            seen = self.contains(users, sample)
            if not bool(seen.any()):
                break
            sample[seen] = self.sample_uniform(int(seen.sum()))
        return sample
