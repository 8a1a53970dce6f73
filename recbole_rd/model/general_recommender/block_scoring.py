"""How a RecBole general model scores users against items in blocks (:class:`Scoring`), for the
general students (:mod:`~recbole_rd.model.general_recommender.recbole_general_student`) and the
teacher's per-user top-N pass (:mod:`recbole_rd.distill.user_teacher`)."""

from contextlib import contextmanager, nullcontext

import torch
from recbole.data.interaction import Interaction


class Scoring:
    """How a RecBole general model scores users against items, in blocks: ``tables(model)`` (what every
    user of a pass shares, computed once), ``encode(model, users, tables)`` (the users' state),
    ``score`` (``[B, n]`` items per row) and ``score_shared`` (the same ``[m]`` items for every row).
    ``whole_rows``: a block is always every item."""

    whole_rows = False

    def tables(self, model):
        return None

    def encode(self, model, users, tables):
        return users

    def score(self, model, state, items):
        raise NotImplementedError

    def score_shared(self, model, state, items):
        raise NotImplementedError

    def floats_per_score(self, model):
        """Floats held per score while a block is scored (bounds the blocks of a pass)."""
        return 1

    def one_pass(self, model):
        """A context in which ``calculate_loss`` and :meth:`tables` share one computation."""
        return nullcontext()


class EmbeddingTables(Scoring):
    """``user_embedding[u] . item_embedding[i]`` (BPR)."""

    def tables(self, model):
        return model.user_embedding.weight, model.item_embedding.weight

    def encode(self, model, users, tables):
        return tables[0][users], tables[1]

    def score(self, model, state, items):
        users, item_table = state
        return (users.unsqueeze(1) * item_table[items]).sum(-1)

    def score_shared(self, model, state, items):
        users, item_table = state
        return users @ item_table[items].T


class PropagatedTables(EmbeddingTables):
    """``U[u] . V[i]`` of ``(U, V) = model.forward()``, one graph propagation for every user (LightGCN)."""

    def tables(self, model):
        return model.forward()[:2]

    @contextmanager
    def one_pass(self, model):
        # calculate_loss calls self.forward(): the scores then reuse that propagation (and its dropout draw)
        computed = []

        def forward_once():
            if not computed:
                computed.append(type(model).forward(model))
            return computed[0]

        model.forward = forward_once
        try:
            yield
        finally:
            del model.forward


class PairForward(Scoring):
    """``model.forward(user, item)`` of every (user, item) pair: the logit NeuMF's BCE is trained on."""

    def score(self, model, state, items):
        users = state.unsqueeze(1).expand_as(items)
        return model.forward(users.reshape(-1), items.reshape(-1)).view(items.shape)

    def score_shared(self, model, state, items):
        return self.score(model, state, items.unsqueeze(0).expand(len(state), -1))

    def floats_per_score(self, model):
        return 3 * model.mf_embedding_size + 4 * model.mlp_embedding_size + 2 * sum(model.mlp_hidden_size)


class FullSortScores(Scoring):
    """Any general model as a teacher: its rows of ``full_sort_predict`` (or of ``predict`` of every pair)."""

    whole_rows = True

    def score_shared(self, model, state, items):
        try:
            rows = model.full_sort_predict(Interaction({model.USER_ID: state}))
        except NotImplementedError:
            every_item = torch.arange(model.n_items, device=state.device)
            rows = model.predict(Interaction({model.USER_ID: state.repeat_interleave(model.n_items),
                                              model.ITEM_ID: every_item.repeat(len(state))}))
        return rows.view(len(state), -1)[:, items]


# the RecBole general models whose scores the adapter computes in blocks (their subclasses too)
SCORINGS = {
    "BPR": EmbeddingTables(),
    "LightGCN": PropagatedTables(),
    "NGCF": PropagatedTables(),
    "DGCF": PropagatedTables(),
    "NeuMF": PairForward(),
}


def served_base(base):
    """The name of the :data:`SCORINGS` model ``base`` is or derives from, else None."""
    return next((klass.__name__ for klass in base.__mro__ if klass.__name__ in SCORINGS
                 and klass.__module__.startswith("recbole.model.")), None)


def scoring_of(model):
    """The :class:`Scoring` of a RecBole general model: its :data:`SCORINGS` one, or None."""
    served = served_base(type(model))
    return SCORINGS[served] if served else None


def block_scoring(model):
    """The :class:`Scoring` that ranks users of general model ``model`` in blocks: its :data:`SCORINGS` one
    where that gives the model's full ranking (checked on a probe), else :class:`FullSortScores`."""
    scoring = scoring_of(model)
    return scoring if scoring is not None and scores_match_full_sort(model, scoring) else FullSortScores()


@torch.no_grad()
def scores_match_full_sort(model, scoring, users=3):
    """Whether ``scoring`` gives ``model.full_sort_predict``'s scores on a probe of ``users`` users (eval
    mode, random-number state untouched); a model without a full sort (NeuMF) is compared with ``predict``
    as ``sigmoid(score)``."""
    training = model.training
    model.eval()
    try:
        probe_users = torch.arange(1, users + 1, device=model.device) % model.n_users
        items = torch.arange(model.n_items, device=model.device)
        ours = scoring.score_shared(model, scoring.encode(model, probe_users, scoring.tables(model)), items)
        try:
            theirs = model.full_sort_predict(Interaction({model.USER_ID: probe_users})).view(users, -1)
        except NotImplementedError:
            pairs = Interaction({model.USER_ID: probe_users.repeat_interleave(model.n_items),
                                 model.ITEM_ID: items.repeat(users)})
            ours, theirs = torch.sigmoid(ours), model.predict(pairs).view(users, -1)
        return bool(torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5))
    finally:
        model.train(training)
