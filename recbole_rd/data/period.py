"""One evaluation period of the paper protocol as a dataloader: users with their window, the items
to exclude and the relevant items, batched; scored by a model with excluded items at ``-inf``."""

from contextlib import nullcontext

import torch
from recbole.data.interaction import Interaction

from recbole_rd.sparse import UserHistory, ragged_rows


class PeriodEvalData:
    """One evaluation period: a batch iterator of users with their window, the items
    to exclude (visited before the period) and the relevant items (the period).

    ``excluded`` and ``relevant`` are CSR ``(indptr, items)`` over positions in ``users``;
    ``settings`` (an :class:`recbole_rd.evaluator.EvalSettings`, set by whoever evaluates; None: the
    paper's metrics) says what :func:`recbole_rd.evaluator.evaluate_period` computes. Built by
    :func:`recbole_rd.data.paper_protocol.paper_data_preparation`; evaluated by the evaluator, which
    reads it as RecBole's evaluator reads a dataloader (this layer never imports the evaluator).
    """

    def __init__(self, dataset, users, windows, lengths, excluded, relevant, batch_size, settings=None):
        self._dataset = dataset
        self.users, self.windows, self.lengths = users, windows, lengths
        self.excluded, self.relevant = excluded, relevant
        self.batch_size = batch_size
        self.settings = settings
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
