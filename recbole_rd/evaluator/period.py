"""Evaluation of one period of the paper protocol: one ranking per user, averaged metrics."""

from collections import OrderedDict
from contextlib import nullcontext

import torch
from recbole.data.interaction import Interaction
from recbole.utils import set_color
from tqdm import tqdm

from recbole_rd import distributed
from recbole_rd.evaluator.evaluator import EvalSettings, ranking_metrics
from recbole_rd.sparse import UserHistory, ragged_rows


class PeriodEvalData:
    """One evaluation period: a batch iterator of users with their window, the items
    to exclude (visited before the period) and the relevant items (the period).

    ``excluded`` and ``relevant`` are CSR ``(indptr, items)`` over positions in ``users``;
    ``settings`` (:class:`EvalSettings`, default the paper's metrics) says what
    :meth:`evaluate` computes. Built by :func:`recbole_rd.data.paper_protocol.paper_data_preparation`.
    """

    def __init__(self, dataset, users, windows, lengths, excluded, relevant, batch_size, settings=None):
        self._dataset = dataset
        self.users, self.windows, self.lengths = users, windows, lengths
        self.excluded, self.relevant = excluded, relevant
        self.batch_size = batch_size
        self.settings = settings or EvalSettings()
        self.uid, self.iid = dataset.uid_field, dataset.iid_field
        self.seq_field = self.iid + dataset.config["LIST_SUFFIX"]
        self.len_field = dataset.config["ITEM_LIST_LENGTH_FIELD"]
        self._history = None

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

    def history(self):
        """Every user's items before the period as a :class:`UserHistory`: the history
        a model ranks with (e.g. Fossil's ``I_u``), training and earlier periods included."""
        if self._history is None:
            indptr, items = self.excluded
            owners = torch.repeat_interleave(self.users, indptr[1:] - indptr[:-1])
            self._history = UserHistory(owners, items, self._dataset.user_num, self._dataset.item_num)
        return self._history

    def with_history(self, model):
        """Context in which ``model`` scores with :meth:`history` (models with ``history_for``)."""
        history_for = getattr(model, "history_for", None)
        return history_for(self.history()) if history_for is not None else nullcontext()

    @torch.no_grad()
    def scores(self, model, batch, device):
        """Scores ``[B, n_items]`` with padding and excluded items at ``-inf``."""
        interaction, (ex_row, ex_flat), _, _ = batch
        with self.with_history(model):
            scores = model.full_sort_predict(interaction.to(device)).view(len(interaction), -1).clone()
        scores[:, 0] = -torch.inf
        scores[ex_row.to(device), self.excluded[1][ex_flat].to(device)] = -torch.inf
        return scores

    @torch.no_grad()
    def evaluate(self, model, device, per_user=False, show_progress=None):
        """The settings' metrics (default: Precision@3/5/10, nDCG@3/5/10, full-ranking MAP),
        averaged over users and rounded to ``metric_decimal_place``; ``per_user=True``: a
        tensor per metric, one value per user. ``show_progress`` (default: the config's)
        shows a progress bar on rank 0.

        In DDP mode each rank scores its share of the users and the sums are
        all-reduced (``per_user`` then gives this rank's users only).
        """
        model.eval()
        keys = self.settings.keys()
        parts = {key: [] for key in keys}
        first, stop = distributed.shard(len(self.users))
        batches = self.batches(first, stop)
        if (self.settings.show_progress if show_progress is None else show_progress) and distributed.rank() == 0:
            batches = tqdm(batches, total=-(-(stop - first) // self.batch_size), ncols=100,
                           desc=set_color("Evaluate   ", "pink"))
        for batch in batches:
            scores = self.scores(model, batch, device)
            _, _, (rel_row, rel_flat), _ = batch
            relevant = torch.zeros_like(scores, dtype=torch.bool)
            relevant[rel_row.to(device), self.relevant[1][rel_flat].to(device)] = True
            for key, values in ranking_metrics(scores, relevant, self.settings).items():
                parts[key].append(values.cpu())
        values = {key: torch.cat(v) if v else torch.zeros(0) for key, v in parts.items()}
        if per_user:
            return values
        sums = torch.tensor([float(v.double().sum()) for v in values.values()] + [stop - first],
                            dtype=torch.float64)
        sums = distributed.all_reduce_sum(sums)
        return OrderedDict((key, round(float(sums[i] / sums[-1]), self.settings.decimals))
                           for i, key in enumerate(keys))
