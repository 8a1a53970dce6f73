"""Scores and top-k items of chosen users, as ``recbole.utils.case_study``, for both protocols.

Under ``eval_protocol: recbole`` these are RecBole's own functions. Under ``paper`` the test
data is a :class:`~recbole_rd.evaluator.PeriodEvalData`, which RecBole's functions
cannot read: a user is then scored from the window before the period, with the items the
user visited before the period (and the padding item) at ``-inf``, as the evaluation does.
"""

import torch
from recbole.data.interaction import Interaction
from recbole.utils.case_study import full_sort_scores as recbole_full_sort_scores

from recbole_rd.data.period import PeriodEvalData
from recbole_rd.sparse import ragged_rows


@torch.no_grad()
def full_sort_scores(uid_series, model, test_data, device=None):
    """``[len(uid_series), n_items]`` scores of all items for the users ``uid_series`` (internal ids).

    For RecBole's dataloaders this is ``recbole.utils.case_study.full_sort_scores``.
    """
    if not isinstance(test_data, PeriodEvalData):
        return recbole_full_sort_scores(uid_series, model, test_data, device)
    device = device or torch.device("cpu")
    model.eval()
    uids = torch.as_tensor(uid_series, dtype=torch.long).view(-1)
    match = test_data.users.unsqueeze(0) == uids.unsqueeze(1)
    missing = uids[~match.any(1)]
    if len(missing):
        raise ValueError(f"users {missing.tolist()} have no item in this evaluation period, so the paper "
                         f"protocol does not rank for them; pick users of test_data.users")
    rows = match.long().argmax(1)
    interaction = Interaction({test_data.uid: test_data.users[rows], test_data.seq_field: test_data.windows[rows],
                               test_data.len_field: test_data.lengths[rows]})
    batch = (interaction, ragged_rows(test_data.excluded[0], rows), None, rows)
    return test_data.scores(model, batch, device)


def full_sort_topk(uid_series, model, test_data, k, device=None):
    """``(scores, item ids)`` of the top ``k`` items of each user in ``uid_series``, as
    ``recbole.utils.case_study.full_sort_topk``; also under the paper protocol."""
    return torch.topk(full_sort_scores(uid_series, model, test_data, device), k)
