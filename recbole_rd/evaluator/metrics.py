"""Ranking metrics of the paper protocol, one small class per metric (as ``recbole/evaluator/metrics.py``).

Every metric gives one value per ranking (user); the period evaluation averages them.
A metric with ``topk = True`` is computed at each cut-off ``k`` of the ``topk`` config
key (result key ``name@k``), the others over the full ranking (result key ``name``).
Items scored ``-inf`` (seen before the period, padding) are never retrieved, but still
count in ``|relevant|``.
"""

from functools import cached_property

import torch


class Rankings:
    """What the metrics need from a batch of rankings: ``scores`` ``[B, n_items]``
    (higher is better, ``-inf`` = excluded) and the ``relevant`` items ``[B, n_items]``."""

    def __init__(self, scores, relevant, max_k):
        self.scores, self.relevant = scores, relevant
        self.n_relevant = relevant.sum(1).float()
        top = scores.topk(min(max_k, scores.size(1)), dim=1).indices
        # hits[b, r]: the item at 0-based position r of row b is relevant
        self.hits = relevant.gather(1, top) & torch.isfinite(scores.gather(1, top))
        self.positions = torch.arange(1, top.size(1) + 1, device=scores.device).float()

    @cached_property
    def relevant_ranks(self):
        """``[B, w]`` 1-based full-ranking ranks of each row's retrievable relevant items,
        ascending, ``inf``-padded (one full sort of every row)."""
        scores = self.scores
        order = scores.argsort(dim=1, descending=True)
        ranks = torch.arange(1, scores.size(1) + 1, device=scores.device).expand_as(order).contiguous()
        rank = torch.empty_like(order).scatter_(1, order, ranks)
        reachable = self.relevant & torch.isfinite(scores)
        sorted_ranks = torch.where(reachable, rank.float(), torch.full_like(scores, torch.inf)).sort(1).values
        width = int(reachable.sum(1).max()) if reachable.any() else 1
        return sorted_ranks[:, :width]


class RankingMetric:
    """Base class: ``value(rankings, k)`` -> ``[B]`` (``k`` is None for full-ranking metrics)."""

    topk = True

    @classmethod
    def key(cls, k=None):
        name = cls.__name__.lower()
        return f"{name}@{k}" if cls.topk else name

    @staticmethod
    def value(rankings, k):
        raise NotImplementedError


class Precision(RankingMetric):
    """Relevant items among the top ``k``, divided by ``k``."""

    @staticmethod
    def value(rankings, k):
        return rankings.hits[:, :k].sum(1).float() / k


class Recall(RankingMetric):
    """Relevant items among the top ``k``, divided by ``|relevant|`` (as the RD authors' evaluator)."""

    @staticmethod
    def value(rankings, k):
        return rankings.hits[:, :k].sum(1).float() / rankings.n_relevant.clamp(min=1)


class Hit(RankingMetric):
    """1 when a relevant item is among the top ``k``, else 0."""

    @staticmethod
    def value(rankings, k):
        return rankings.hits[:, :k].any(1).float()


class MRR(RankingMetric):
    """1 / rank of the first relevant item when it is among the top ``k``, else 0 (RecBole's MRR@k)."""

    @staticmethod
    def value(rankings, k):
        return (rankings.hits[:, :k].float() / rankings.positions[:k]).max(1).values


class NDCG(RankingMetric):
    """DCG of the top ``k`` positions over the ideal DCG of ``min(|relevant|, k)`` hits."""

    @staticmethod
    def value(rankings, k):
        discount = 1.0 / torch.log2(rankings.positions[:k] + 1)
        dcg = (rankings.hits[:, :k].float() * discount).sum(1)
        ideal = torch.cumsum(discount, 0)[(rankings.n_relevant.clamp(min=1, max=len(discount)) - 1).long()]
        return dcg / ideal


class MAP(RankingMetric):
    """Average precision over the full ranking, divided by ``|relevant|`` (the paper's MAP;
    RecBole's ``MAP@k`` is cut at ``k`` and divided by ``min(|relevant|, k)``)."""

    topk = False

    @staticmethod
    def value(rankings, k=None):
        ranks = rankings.relevant_ranks
        hit_number = torch.arange(1, ranks.size(1) + 1, device=ranks.device).float()
        precision_at_hits = torch.where(torch.isfinite(ranks), hit_number / ranks, 0.0)
        return precision_at_hits.sum(1) / rankings.n_relevant.clamp(min=1)


METRICS = {cls.__name__.lower(): cls for cls in (Precision, Recall, Hit, MRR, NDCG, MAP)}
