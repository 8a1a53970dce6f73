import math
from collections import defaultdict

import pytest
import torch
from torch import nn

from conftest import tiny_config_dict
from test_models import fossil_brute_force

from recbole_rd.evaluator import evaluate_period, ranking_metrics
from recbole_rd.model.sequential_recommender import Fossil
from recbole_rd.quick_start import prepare, train_and_test
from recbole_rd.utils import ConfigError


def test_metrics_by_hand_with_several_relevant_items():
    # items 1..11 (0 is padding); ranking 3, 2, 6, 5, 1, 4, 7, 8, 9, 10, 11
    order = [3, 2, 6, 5, 1, 4, 7, 8, 9, 10, 11]
    scores = torch.full((2, 12), -torch.inf)
    for pos, item in enumerate(order):
        scores[:, item] = 100.0 - pos
    relevant = torch.zeros(2, 12, dtype=torch.bool)
    relevant[0, [2, 5, 7]] = True
    relevant[1, [1, 2]] = True
    scores[1, 1] = -torch.inf  # excluded (seen before): can never be retrieved
    m = ranking_metrics(scores, relevant)
    lg = lambda r: 1 / math.log2(r + 1)  # noqa: E731  gain at 1-based rank r
    ideal3 = lg(1) + lg(2) + lg(3)
    assert m["precision@3"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert m["precision@5"].tolist() == pytest.approx([2 / 5, 1 / 5])
    assert m["precision@10"].tolist() == pytest.approx([3 / 10, 1 / 10])
    assert m["ndcg@3"][0].item() == pytest.approx(lg(2) / ideal3)
    assert m["ndcg@5"][0].item() == pytest.approx((lg(2) + lg(4)) / ideal3)
    assert m["ndcg@10"][0].item() == pytest.approx((lg(2) + lg(4) + lg(7)) / ideal3)
    # row 1: item 2 now at rank 2 (item 1 removed), ideal over min(|rel|=2, k)
    assert m["ndcg@3"][1].item() == pytest.approx(lg(2) / (lg(1) + lg(2)))
    assert m["map"][0].item() == pytest.approx((1 / 2 + 2 / 4 + 3 / 7) / 3)
    assert m["map"][1].item() == pytest.approx((1 / 2) / 2)


def _raw_sequences(path, dataset):
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    seqs = defaultdict(list)
    for user, item, time in sorted(rows, key=lambda r: (r[0], float(r[2]))):
        seqs[int(dataset.token2id("user_id", user))].append(int(dataset.token2id("item_id", item)))
    return seqs


def test_periods_use_only_history_before_them_and_exclude_it(tiny):
    config, train, valid, test = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper"))
    dataset = train._dataset
    seqs = _raw_sequences(tiny / "dataset" / "tiny" / "tiny.inter", dataset)
    for period, (lo, hi) in ((valid, (0.7, 0.8)), (test, (0.8, 1.0))):
        for row, user in enumerate(period.users.tolist()):
            seq = seqs[user]
            begin, end = int(len(seq) * lo + 1e-9), int(len(seq) * hi + 1e-9)
            window = period.windows[row, :period.lengths[row]].tolist()
            assert window == seq[:begin][-5:]
            ex = period.excluded[1][period.excluded[0][row]:period.excluded[0][row + 1]].tolist()
            rel = period.relevant[1][period.relevant[0][row]:period.relevant[0][row + 1]].tolist()
            assert ex == sorted(set(seq[:begin])) and rel == sorted(set(seq[begin:end]))
    train_users = dataset.inter_feat["user_id"].tolist()
    train_targets = dataset.inter_feat["item_id"].tolist()
    for user in set(train_users):
        n_train = int(len(seqs[user]) * 0.7 + 1e-9)
        mine = [t for u, t in zip(train_users, train_targets) if u == user]
        assert mine == seqs[user][1:n_train]  # training targets: the first 70% only


def metrics_one_user_at_a_time(period, model):
    """P@k, nDCG@k and full MAP of ``period`` in plain Python, from each user's ranked list
    without the items seen before the period (as the RD authors' evaluator builds it)."""
    sums = defaultdict(float)
    for row in range(len(period.users)):
        scores = period.scores(model, next(period.batches(row, row + 1)), "cpu")[0]
        ranked = [i for i in scores.argsort(descending=True).tolist() if scores[i] > -math.inf]
        relevant = set(period.relevant[1][period.relevant[0][row]:period.relevant[0][row + 1]].tolist())
        hit_ranks = [r for r, item in enumerate(ranked, 1) if item in relevant]
        for k in (3, 5, 10):
            sums[f"precision@{k}"] += sum(r <= k for r in hit_ranks) / k
            ideal = sum(1 / math.log2(r + 1) for r in range(1, min(len(relevant), k) + 1))
            sums[f"ndcg@{k}"] += sum(1 / math.log2(r + 1) for r in hit_ranks if r <= k) / ideal
        sums["map"] += sum(n / r for n, r in enumerate(hit_ranks, 1)) / len(relevant)
    return {key: value / len(period.users) for key, value in sums.items()}


def test_reported_metrics_match_a_per_user_recount_and_seen_items_are_never_recommended(tiny):
    config, train, valid, test = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper"))
    result = train_and_test(config, train, valid, test)
    model = result["trainer"].model.eval()
    assert list(result["test_result"]) == ["precision@3", "precision@5", "precision@10", "ndcg@3", "ndcg@5",
                                           "ndcg@10", "map"]
    by_hand = metrics_one_user_at_a_time(test, model)
    for key, value in result["test_result"].items():
        assert value == pytest.approx(by_hand[key], abs=6e-5), key
    for batch in test:
        scores = test.scores(model, batch, "cpu")
        top = scores.topk(10, dim=1).indices
        _, (ex_row, ex_flat), _, rows = batch
        seen = torch.zeros_like(scores, dtype=torch.bool)
        seen[ex_row, test.excluded[1][ex_flat]] = True
        assert not seen.gather(1, top).any()


def test_bad_protocol_settings_are_refused(tiny):
    with pytest.raises(ConfigError, match="eval_protocol"):
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="loo"))
    with pytest.raises(ConfigError, match="paper_split"):
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper", paper_split=[0.7, 0.2]))
    with pytest.raises(ConfigError, match="eval_protocol: paper splits each user's sequence, and Pop is not a "
                                          "sequential model; run it as a baseline of --compare"):
        prepare("Pop", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper"))
    with pytest.raises(ConfigError, match="eval_protocol: 'loo'"):  # refused before the dataset is read
        prepare("Caser", "no-such-dataset", config_dict=tiny_config_dict(tiny, eval_protocol="loo"))


def test_fossil_ranks_each_period_with_everything_before_it(tmp_path):
    """Hand-built check-ins: 10 per user, so train = items 1-7, validation = item 8, test = 9-10."""
    sequences = {"u1": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "u2": [5, 6, 7, 8, 9, 10, 11, 12, 2, 3]}
    path = tmp_path / "dataset" / "hand" / "hand.inter"
    path.parent.mkdir(parents=True)
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
        f"{user}\ti{item}\t{time}\n" for user, items in sequences.items() for time, item in enumerate(items)))
    config, train, valid, test = prepare("Fossil", "hand", config_dict=tiny_config_dict(
        tmp_path, eval_protocol="paper", embedding_size=8, L=2))
    model = Fossil(config, train._dataset).eval()
    with torch.no_grad():  # a Markov term too, so the windows count
        model.eta.normal_()
        model.user_eta.weight.normal_()
    dataset = train._dataset
    ids = {user: [int(dataset.token2id("item_id", f"i{item}")) for item in items] for user, items in sequences.items()}
    # the validation period ranks with the training history, the test period with training + validation
    assert torch.equal(valid.history().keys, model.history.keys)
    for period, before in ((valid, 7), (test, 8)):
        batch = next(iter(period))
        with torch.no_grad(), period.with_history(model):
            scores = model.full_sort_predict(batch[0])
        for row, uid in enumerate(period.users.tolist()):
            user = dataset.id2token("user_id", uid)
            window = period.windows[row, :period.lengths[row]].tolist()
            assert window == ids[user][before - 2:before]
            expected = [fossil_brute_force(model, uid, window, ids[user][:before], j) for j in range(dataset.item_num)]
            torch.testing.assert_close(scores[row], torch.tensor(expected), rtol=1e-5, atol=1e-6)
    # and the validation item does change the test scores (training history alone: other numbers)
    with torch.no_grad():
        assert not torch.allclose(model.full_sort_predict(next(iter(test))[0]), scores)


class ItemScores(nn.Module):
    """Every user gets the same score per item: ``table[item]``."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", table)

    def full_sort_predict(self, interaction):
        return self.table.repeat(len(interaction), 1)


def test_users_with_an_empty_validation_period_are_not_evaluated_in_it(tmp_path):
    """70/10/20 split of n check-ins: train = first floor(0.7 n), validation = up to floor(0.8 n).
    u1 (10 items): train a1-a7, validation a8, test a9-a10. u2 (6): train b1-b4, validation
    empty (floor 4.2 = floor 4.8 = 4), test b5-b6. u3 (3): train c1-c2, validation empty
    (floor 2.1 = floor 2.4 = 2), test c3. Only u1 is ranked in the validation period."""
    sequences = {"u1": [f"a{i}" for i in range(1, 11)], "u2": [f"b{i}" for i in range(1, 7)],
                 "u3": [f"c{i}" for i in range(1, 4)]}
    path = tmp_path / "dataset" / "short" / "short.inter"
    path.parent.mkdir(parents=True)
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
        f"{user}\t{item}\t{time}\n" for user, items in sequences.items() for time, item in enumerate(items)))
    config, train, valid, test = prepare("Caser", "short", config_dict=tiny_config_dict(
        tmp_path, eval_protocol="paper"))
    dataset = train._dataset
    users = lambda period: [dataset.id2token("user_id", u) for u in period.users.tolist()]  # noqa: E731
    assert users(valid) == ["u1"]
    assert sorted(users(test)) == ["u1", "u2", "u3"]
    # u1's validation period: a8 best of its unseen items -> P@k = 1/k, nDCG@k = 1, MAP = 1
    table = torch.zeros(dataset.item_num)
    table[int(dataset.token2id("item_id", "a8"))] = 10.0
    per_user = evaluate_period(valid, ItemScores(table), "cpu", per_user=True)
    assert {key: v.tolist() for key, v in per_user.items()} == {
        "precision@3": [pytest.approx(1 / 3)], "precision@5": [pytest.approx(1 / 5)],
        "precision@10": [pytest.approx(1 / 10)], "ndcg@3": [1.0], "ndcg@5": [1.0], "ndcg@10": [1.0], "map": [1.0]}
    averaged = evaluate_period(valid, ItemScores(table), "cpu")
    assert (averaged["precision@3"], averaged["ndcg@10"], averaged["map"]) == (0.3333, 1.0, 1.0)
