"""Exact top-k of score rows, faster than ``torch.topk`` on CPU for large catalogues."""

import torch

GROUP_SIZE = 8  # items j, j + n/8, j + 2n/8, ... form one group (measured best of 4..32 items)
MIN_ITEMS = 4096  # below this torch.topk alone is as fast (measured at 2,000 items)


def top_k(scores, k):
    """``(values, indices)`` of the ``k`` largest scores of each row of ``[rows, n]``, sorted,
    as ``scores.topk(k, dim=1)`` (ties may pick other indices of the same value).

    On CPU, for large ``n``: the maximum of each group of ``GROUP_SIZE`` items spaced
    ``n // GROUP_SIZE`` apart (one vectorised pass), the ``k`` best groups, then the top-k
    among their ``k * GROUP_SIZE`` items. Exact: each of the k best items lies in a group whose maximum is at least its
    score, and at most ``k - 1`` other groups can beat that. Measured 2.0-2.5x faster than
    ``torch.topk`` at 14K-33K items, 2 CPU cores.
    """
    rows, n = scores.shape
    width = n // GROUP_SIZE
    if scores.is_cuda or n < MIN_ITEMS or width < 4 * k:
        return scores.topk(k, dim=1)
    maxima = scores[:, :width * GROUP_SIZE].reshape(rows, GROUP_SIZE, width).amax(1)
    groups = maxima.topk(k, dim=1).indices
    offsets = width * torch.arange(GROUP_SIZE, device=scores.device)
    columns = (groups.unsqueeze(2) + offsets).view(rows, -1)
    if width * GROUP_SIZE < n:  # the last n % GROUP_SIZE items are always candidates
        tail = torch.arange(width * GROUP_SIZE, n, device=scores.device).expand(rows, -1)
        columns = torch.cat([columns, tail], 1)
    values, pick = scores.gather(1, columns).topk(k, dim=1)
    return values, columns.gather(1, pick)
