import math

import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_rd.model.layers import right_align
from recbole_rd.sparse import UserHistory
from recbole_rd.model.sequential_recommender import Caser, Fossil
from conftest import config_with
from recbole_rd.utils import ConfigError


def caser_parameter_formula(n_users, n_items, d, L=5, nh=16, nv=2):
    conv_v = nv * L + nv
    conv_h = sum(nh * h * d + nh for h in range(1, L + 1))
    fc1 = (nv * d + nh * L) * d + d
    return n_users * d + n_items * d + n_items * 2 * d + n_items + conv_v + conv_h + fc1


class FakeDataset:
    """The few attributes a model reads from a RecBole dataset."""

    def __init__(self, n_users, n_items):
        self.user_num, self.item_num = n_users, n_items
        self.inter_feat = {"user_id": torch.tensor([1]), "item_id": torch.tensor([1])}

    def num(self, field):
        return self.item_num


class DictConfig(dict):
    def __getitem__(self, key):
        return self.get(key)


def fake_config(**overrides):
    values = DictConfig(USER_ID_FIELD="user_id", ITEM_ID_FIELD="item_id", LIST_SUFFIX="_list",
                  ITEM_LIST_LENGTH_FIELD="item_length", NEG_PREFIX="neg_", MAX_ITEM_LIST_LENGTH=5,
                  device="cpu", L=5, nh=16, nv=2, embedding_size=100, dropout_prob=0.5,
                  ac_conv="iden", ac_fc="sigm", loss_type="BCE", neg_samples=3,
                  train_neg_sample_args={"distribution": "none"})
    values.update(overrides)
    return values


@pytest.mark.parametrize("d,expected", [(100, 5_584_102), (50, 2_794_102)])
def test_caser_parameter_count_follows_formula_at_paper_gowalla_size(d, expected):
    config = fake_config(embedding_size=d)
    model = Caser(config, FakeDataset(13149, 14010))
    count = sum(p.numel() for p in model.parameters())
    assert count == caser_parameter_formula(13149, 14010, d) == expected
    assert round(count / 1e6, 2) == (5.58 if d == 100 else 2.79)


def test_right_align_puts_most_recent_item_last_and_pads_left():
    seq = torch.tensor([[4, 5, 6, 7, 0, 0, 0], [9, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    lengths = torch.tensor([4, 1, 7])
    assert right_align(seq, lengths, 5).tolist() == [[0, 4, 5, 6, 7], [0, 0, 0, 0, 9], [3, 4, 5, 6, 7]]


def test_history_membership_and_negatives_never_seen():
    users = torch.tensor([1, 1, 1, 2, 2])
    items = torch.tensor([3, 5, 3, 1, 2])
    history = UserHistory(users, items, n_users=3, n_items=6)
    assert history.counts(torch.tensor([0, 1, 2])).tolist() == [0, 2, 2]
    assert history.contains(torch.tensor([1, 1, 2]), torch.tensor([3, 4, 2])).tolist() == [True, False, True]
    torch.manual_seed(0)
    negatives = history.sample_negatives(torch.tensor([1] * 50 + [2] * 50), 3)
    assert negatives.min() >= 1
    assert not history.contains(torch.tensor([1] * 50 + [2] * 50), negatives).any()
    shared = history.contains_shared(torch.tensor([2, 0, 1, 1]), torch.tensor([3, 2, 3, 5, 1]))
    assert shared.tolist() == [[False, True, False, False, True], [False] * 5,
                               [True, False, True, True, False], [True, False, True, True, False]]


@pytest.mark.parametrize("model_name", ["Caser", "Fossil"])
def test_full_sort_predict_equals_predict_item_by_item(tiny_data, model_name):
    from recbole_rd.model.registry import get_model

    config, train, valid, test = tiny_data
    config = config_with(config, model_name, fossil_alpha=0.5)
    model = get_model(model_name)(config, train._dataset).eval()
    batch = next(iter(test))[0]
    full = model.full_sort_predict(batch)
    n_items = full.size(1)
    users = batch["user_id"].repeat_interleave(n_items)
    expanded = batch.repeat_interleave(n_items)
    expanded.update(type(batch)({"item_id": torch.arange(n_items).repeat(len(batch))}))
    single = model.predict(expanded).view(len(batch), n_items)
    assert users.numel() == single.numel()
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model_name", ["Caser", "Fossil"])
def test_shared_item_scores_equal_per_row_scores_and_full_sort(tiny_data, model_name):
    from recbole_rd.model.registry import get_model

    config, train, _, test = tiny_data
    model = get_model(model_name)(config_with(config, model_name, fossil_alpha=0.5), train._dataset).eval()
    batch = next(iter(test))[0]
    state = model.encode(batch)
    items = torch.tensor([3, 1, 7, 3, 20])  # repeats allowed, as in uniform sampling
    shared = model.score_shared(state, items)
    per_row = model.score(state, items.expand(len(batch), -1))
    torch.testing.assert_close(shared, per_row, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shared, model.full_sort_predict(batch)[:, items], rtol=1e-5, atol=1e-5)


def test_caser_rows_of_one_user_share_the_user_half_of_the_product(tiny_data):
    config, train, _, _ = tiny_data
    model = Caser(config_with(config, "Caser"), train._dataset).eval()
    with torch.no_grad():
        model.b2.weight.normal_()
    batch = train._dataset.inter_feat[:200]  # training instances: consecutive rows per user
    users = batch["user_id"]
    assert 2 * len(torch.unique_consecutive(users)) <= len(users)  # the per-user path is taken
    state = model.encode(batch)
    plain = torch.addmm(model.b2.weight.t(), state[0], model.W2.weight.t())
    torch.testing.assert_close(model.score_all(state), plain, rtol=1e-5, atol=1e-5)
    items = torch.tensor([5, 2, 9])
    torch.testing.assert_close(model.score_shared(state, items), plain[:, items], rtol=1e-5, atol=1e-5)
    shuffled = batch[torch.randperm(len(batch))]  # users no longer consecutive: one product
    assert 2 * len(torch.unique_consecutive(shuffled["user_id"])) > len(shuffled)
    torch.testing.assert_close(model.score_all(model.encode(shuffled)),
                               torch.addmm(model.b2.weight.t(), model.encode(shuffled)[0], model.W2.weight.t()))


def test_fossil_score_matches_hand_formula(tiny_data):
    config, train, _, _ = tiny_data
    config = config_with(config, "Fossil", fossil_alpha=0.5, embedding_size=8)
    model = Fossil(config, train._dataset).eval()
    with torch.no_grad():
        model.eta.copy_(torch.linspace(0.1, 0.5, model.L))
        model.user_eta.weight.normal_()
    batch = train._dataset.inter_feat[:1]
    user, target = int(batch["user_id"]), int(batch["item_id"])
    history = model.history.items[model.history.indptr[user]:model.history.indptr[user + 1]].tolist()
    window = right_align(batch["item_id_list"], batch["item_length"], model.L)[0].tolist()
    P, V, b = model.item_in.weight, model.item_out.weight, model.item_bias.weight[:, 0]
    long_term = sum(P[i] for i in history if i != target) * (len(history) - 1) ** -0.5  # |I_u \ {j}|^-alpha
    eta = model.eta + model.user_eta.weight[user]
    short_term = sum(eta[model.L - 1 - pos] * P[i] for pos, i in enumerate(window) if i)
    expected = V[target] @ (long_term + short_term) + b[target]
    assert target in history and len(history) > 2
    torch.testing.assert_close(model.predict(batch)[0], expected, rtol=1e-5, atol=1e-5)


def fossil_brute_force(model, user, window, history, j):
    """Fossil's score of item ``j`` as the paper writes it: ``V_j . (|I_u \\ {j}|^-alpha sum_{i in I_u \\ {j}} P_i
    + sum_l (eta_l + eta_{u,l}) P_{s_l}) + b_j``, one (user, item) at a time."""
    P, V, b = model.item_in.weight, model.item_out.weight, model.item_bias.weight[:, 0]
    others = set(history) - {j}
    long_term = sum((P[i] for i in others), torch.zeros(P.size(1))) * (len(others) ** -model.fossil_alpha if others else 0)
    eta = model.eta + model.user_eta.weight[user]
    recent_first = [i for i in reversed(window) if i]
    short_term = sum((eta[l] * P[i] for l, i in enumerate(recent_first)), torch.zeros(P.size(1)))
    return float(V[j] @ (long_term + short_term) + b[j])


def test_fossil_normalises_by_the_history_without_the_scored_item():
    model = Fossil(fake_config(embedding_size=2, fossil_alpha=0.5), FakeDataset(3, 5)).eval()
    with torch.no_grad():
        model.item_in.weight.copy_(torch.tensor([[0, 0], [1, 0], [0, 1], [1, 1], [2, 0]]))   # P_0..P_4
        model.item_out.weight.copy_(torch.tensor([[0, 0], [1, 1], [0, 1], [1, 0], [1, 0]]))  # V_0..V_4
        model.item_bias.weight.copy_(torch.tensor([[0], [0], [0], [0], [0.5]]))
        model.eta.copy_(torch.tensor([1.0, 0, 0, 0, 0]))  # weighs the most recent item only
    histories = {0: [], 1: [1, 2, 3], 2: [2]}
    windows = {0: [], 1: [2], 2: []}
    history = UserHistory(torch.tensor([1, 1, 1, 2]), torch.tensor([1, 2, 3, 2]), 3, 5)
    batch = Interaction({"user_id": torch.tensor([0, 1, 2]),
                         "item_id_list": torch.tensor([windows[u] + [0] * (5 - len(windows[u])) for u in range(3)]),
                         "item_length": torch.tensor([len(windows[u]) for u in range(3)])})
    r2, r3 = math.sqrt(2), math.sqrt(3)
    by_hand = [[0, 0, 0, 0, 0.5],
               # user 1, I_u = {1, 2, 3}, window [2]: items in I_u scaled by 2^-1/2, item 4 by 3^-1/2
               [0, 3 / r2 + 1, 1 / r2 + 1, 1 / r2, 2 / r3 + 0.5],
               # user 2, I_u = {2}: I_u \ {2} is empty, so no long-term term for item 2
               [0, 1, 0, 0, 0.5]]
    brute = [[fossil_brute_force(model, u, windows[u], histories[u], j) for j in range(5)] for u in range(3)]
    torch.testing.assert_close(torch.tensor(brute), torch.tensor(by_hand))
    with torch.no_grad(), model.history_for(history):
        state = model.encode(batch)
        items = torch.arange(5)
        full = model.full_sort_predict(batch)
        per_row = model.score(state, items.expand(3, -1))
        shared = model.score_shared(state, torch.tensor([4, 1, 2, 1]))
        single = model.predict(Interaction({**{k: batch[k].repeat_interleave(5) for k in ("user_id", "item_length")},
                                            "item_id_list": batch["item_id_list"].repeat_interleave(5, 0),
                                            "item_id": items.repeat(3)}))
    expected = torch.tensor(by_hand)
    torch.testing.assert_close(full, expected)
    torch.testing.assert_close(per_row, expected)
    torch.testing.assert_close(single.view(3, 5), expected)
    torch.testing.assert_close(shared, expected[:, [4, 1, 2, 1]])
    # outside the block the model is back on its training history (user 1: item 1 only)
    assert model.history.keys.tolist() == [1 * 5 + 1]
    with pytest.raises(ValueError, match="history_for: a history over 4 users"):
        with model.history_for(UserHistory(torch.tensor([1]), torch.tensor([1]), 4, 5)):
            pass


@pytest.mark.parametrize("model_name", ["Caser", "Fossil"])
def test_training_loss_falls_on_tiny_dataset(tiny_data, model_name):
    from recbole_rd.quick_start import train_and_test

    config, train, valid, test = tiny_data
    config = config_with(config, model_name, epochs=6, stopping_step=100, fossil_alpha=0.5)
    result = train_and_test(config, train, valid, test)
    losses = result["trainer"].train_loss_dict
    assert losses[5] < losses[0] * 0.9
    # the reported hit@10 is the best model's own ranking of the test targets
    assert result["test_result"]["hit@10"] == hit_at_10_by_hand(result["trainer"].model.eval(), test) > 0


@torch.no_grad()
def hit_at_10_by_hand(model, test):
    """Share of test rows whose target is among the model's 10 best items (padding excluded)."""
    hits = []
    for interaction, history_index, positive_u, positive_i in test:
        scores = model.full_sort_predict(interaction).view(len(interaction), -1)
        scores[:, 0] = -torch.inf
        if history_index is not None:
            scores[history_index] = -torch.inf
        target = torch.zeros_like(scores, dtype=torch.bool)
        target[positive_u, positive_i] = True
        hits += target.gather(1, scores.topk(10).indices).any(1).tolist()
    return round(sum(hits) / len(hits), 4)


def test_bad_model_keys_raise_clear_errors(tiny_data):
    config, train, _, _ = tiny_data
    with pytest.raises(ConfigError, match="loss_type"):
        Caser(config_with(config, loss_type="hinge"), train._dataset)
    with pytest.raises(ConfigError, match="L: window 9"):
        Caser(config_with(config, L=9), train._dataset)
    with pytest.raises(ConfigError, match="T: only T=1"):
        Caser(config_with(config, T=3), train._dataset)
    with pytest.raises(ConfigError, match="ac_fc"):
        Caser(config_with(config, ac_fc="softplus"), train._dataset)
    with pytest.raises(ConfigError, match="train_neg_sample_args"):
        Caser(config_with(config, train_neg_sample_args={"distribution": "uniform"}), train._dataset)
