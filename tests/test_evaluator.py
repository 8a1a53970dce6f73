"""The paper protocol's evaluator: metric values by hand, RecBole's evaluation keys, DDP, progress."""

import math
import socket
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from conftest import tiny_config_dict
from torch import nn

from recbole_rd import distributed
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.evaluator import EvalSettings, evaluate_period, ranking_metrics
from recbole_rd.quick_start import prepare, train_and_test
from recbole_rd.utils import ConfigError

ALL_METRICS = ("Precision", "Recall", "Hit", "MRR", "NDCG", "MAP")
G3, G5 = 1 / math.log2(3), 1 / math.log2(5)  # gains of ranks 2 and 4: 0.63093, 0.43068

# Two users, items 1..6 (0 is padding). User 0 ranks 4, 6, 2, 1, 5, 3 and the period holds
# {1, 3} (ranks 4 and 6). User 1 saw 4 and 6 before the period (excluded), ranks 5, 3, 1, 2
# and the period holds {2, 5, 6}: 6 was seen before, so it counts in |relevant| = 3 but can
# never be retrieved; hits at ranks 1 and 4.
ORDERS = {0: [4, 6, 2, 1, 5, 3], 1: [5, 3, 1, 2, 4, 6]}
EXCLUDED = {0: [], 1: [4, 6]}
RELEVANT = {0: [1, 3], 1: [2, 5, 6]}
EXPECTED = {  # per user, computed by hand; the ideal DCG of user 1 at k=2 has 2 hits, at k>=3 all 3
    "precision@2": [0, 1 / 2], "precision@3": [0, 1 / 3], "precision@5": [1 / 5, 2 / 5],
    "recall@2": [0, 1 / 3], "recall@3": [0, 1 / 3], "recall@5": [1 / 2, 2 / 3],
    "hit@2": [0, 1], "hit@3": [0, 1], "hit@5": [1, 1],
    "mrr@2": [0, 1], "mrr@3": [0, 1], "mrr@5": [1 / 4, 1],
    "ndcg@2": [0, 1 / (1 + G3)], "ndcg@3": [0, 1 / (1 + G3 + 1 / 2)],
    "ndcg@5": [G5 / (1 + G3), (1 + G5) / (1 + G3 + 1 / 2)],
    "map": [(1 / 4 + 2 / 6) / 2, (1 / 1 + 2 / 4) / 3],
}


def csr(rows):
    indptr = torch.tensor([0] + [len(r) for r in rows]).cumsum(0)
    return indptr, torch.tensor([i for r in rows for i in sorted(r)], dtype=torch.long)


class FixedScores(nn.Module):
    """A model whose score of an item is its place from the end of the user's ORDERS list."""

    def __init__(self):
        super().__init__()
        table = torch.zeros(2, 7)
        for user, order in ORDERS.items():
            table[user, order] = torch.arange(len(order), 0, -1).float()
        self.register_buffer("table", table)

    def full_sort_predict(self, interaction):
        return self.table[interaction["user_id"]]


def period_data(settings, users=(0, 1), batch_size=1):
    dataset = SimpleNamespace(uid_field="user_id", iid_field="item_id", user_num=2, item_num=7,
                              config={"LIST_SUFFIX": "_list", "ITEM_LIST_LENGTH_FIELD": "item_length"})
    users = torch.tensor(users)
    return PeriodEvalData(dataset, users, torch.zeros(len(users), 5, dtype=torch.long), torch.zeros(len(users)),
                          csr([EXCLUDED[int(u)] for u in users]), csr([RELEVANT[int(u)] for u in users]),
                          batch_size, settings)


def test_metric_values_by_hand_for_two_users_and_six_items():
    settings = EvalSettings(ALL_METRICS, (2, 3, 5), decimals=6)
    data = period_data(settings)
    per_user = evaluate_period(data, FixedScores(), "cpu", per_user=True)
    assert list(per_user) == [f"{m}@{k}" for m in ("precision", "recall", "hit", "mrr", "ndcg") for k in (2, 3, 5)] + [
        "map"]
    for key, values in EXPECTED.items():
        assert per_user[key].tolist() == pytest.approx(values), key
    averaged = evaluate_period(data, FixedScores(), "cpu")
    assert averaged["recall@5"] == round((1 / 2 + 2 / 3) / 2, 6) == 0.583333
    assert averaged["ndcg@5"] == 0.467727  # (0.43068 / 1.63093 + 1.43068 / 2.13093) / 2
    assert averaged["map"] == 0.395833  # (7/24 + 1/2) / 2
    # metric_decimal_place
    two = evaluate_period(period_data(settings._replace(decimals=2)), FixedScores(), "cpu")
    assert two["recall@5"] == 0.58 and two["map"] == 0.4


def test_default_metrics_are_the_papers():
    scores = FixedScores().table
    relevant = torch.zeros(2, 7, dtype=torch.bool)
    for user, items in RELEVANT.items():
        relevant[user, items] = True
    values = ranking_metrics(scores, relevant)
    assert list(values) == ["precision@3", "precision@5", "precision@10", "ndcg@3", "ndcg@5", "ndcg@10", "map"]
    # nothing excluded here: user 1's ranking is 5, 3, 1, 2, 4, 6 -> hits at 1, 4 and 6
    assert values["map"].tolist() == pytest.approx([(1 / 4 + 2 / 6) / 2, (1 + 2 / 4 + 3 / 6) / 3])
    assert values["precision@10"].tolist() == pytest.approx([2 / 10, 3 / 10])  # only 6 items to rank


def _eval_rank(local_rank, port, out_dir):
    torch.distributed.init_process_group("gloo", rank=local_rank, world_size=2, init_method=f"tcp://127.0.0.1:{port}")
    try:
        data = period_data(EvalSettings(ALL_METRICS, (3, 5), decimals=6), users=(0, 1, 1), batch_size=1)
        torch.save(evaluate_period(data, FixedScores(), "cpu"), f"{out_dir}/rank{local_rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_ddp_ranks_share_the_users_and_agree_with_one_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_eval_rank, args=(port, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    alone = evaluate_period(period_data(EvalSettings(ALL_METRICS, (3, 5), decimals=6), users=(0, 1, 1)), FixedScores(),
                            "cpu")
    assert ranks[0] == ranks[1] == alone
    # three rankings (user 1 twice), 2 on rank 0 and 1 on rank 1: weighted by users, not by ranks
    assert alone["mrr@5"] == round((1 / 4 + 1 + 1) / 3, 6)
    assert not distributed.is_distributed()


def test_progress_bar_only_when_asked(capsys):
    data = period_data(EvalSettings(show_progress=True))
    evaluate_period(data, FixedScores(), "cpu")
    assert "Evaluate" in capsys.readouterr().err
    evaluate_period(data, FixedScores(), "cpu", show_progress=False)
    quiet = period_data(EvalSettings(show_progress=False))
    evaluate_period(quiet, FixedScores(), "cpu")
    assert "Evaluate" not in capsys.readouterr().err


def _brute_recall(test, model, k):
    """Recall@k as the RD authors' evaluator computes it, one user at a time, in Python."""
    values = []
    for row in range(len(test.users)):
        batch = next(test.batches(row, row + 1))
        scores = test.scores(model, batch, "cpu")[0]
        ranked = [i for i in scores.argsort(descending=True).tolist() if scores[i] > -math.inf]
        relevant = set(test.relevant[1][test.relevant[0][row]:test.relevant[0][row + 1]].tolist())
        values.append(len(set(ranked[:k]) & relevant) / len(relevant))
    return sum(values) / len(values)


def test_topk_from_the_command_line_gives_recall_at_20_and_can_be_the_valid_metric(tiny, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_rd.py", "--topk=[5,20]", "--valid_metric=recall@20"])
    config, train, valid, test = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper",
                                                                                       epochs=1))
    result = train_and_test(config, train, valid, test)
    # topk given: metrics from the config as in RecBole (overall.yaml: Recall, MRR, NDCG, Hit, Precision)
    assert list(result["test_result"]) == [f"{m}@{k}" for m in ("recall", "mrr", "ndcg", "hit", "precision")
                                           for k in (5, 20)]
    model = result["trainer"].model
    assert result["test_result"]["recall@20"] == round(_brute_recall(test, model, 20), 4)
    assert result["best_valid_score"] == result["best_valid_result"]["recall@20"]


def test_metrics_key_keeps_the_config_topk(tiny, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_rd.py", "--metrics=['Recall','NDCG', 'map']"])
    config, train, valid, test = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper",
                                                                                       epochs=1, metric_decimal_place=3))
    assert test.settings.keys() == ["recall@10", "ndcg@10", "map"]
    result = evaluate_period(test, train_and_test(config, train, valid, test)["trainer"].model, "cpu")
    assert all(round(v, 3) == v for v in result.values())


def test_valid_metric_and_metrics_not_computed_are_refused_by_name(tiny):
    with pytest.raises(ConfigError, match=r"valid_metric: 'recall@20' is not computed.*ndcg@10"):
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper", valid_metric="recall@20"))
    with pytest.raises(ConfigError, match="valid_metric: 'MAP@10'"):  # RecBole's MAP@k is not the paper's MAP
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper", valid_metric="MAP@10"))
    with pytest.raises(ConfigError, match=r"metrics: \['ItemCoverage'\] not computed by the paper protocol"):
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper",
                                                              metrics=["ItemCoverage", "NDCG"]))
    config, *_ = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper",
                                                                         valid_metric="Precision@5"))
    assert config["valid_metric"] == "Precision@5"  # any case, as RecBole


def test_topk_alone_moves_the_default_valid_metric_to_the_nearest_cut_off(tiny, caplog):
    config, *_ = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper", topk=[5, 20]))
    assert config["valid_metric"] == "ndcg@5"  # default NDCG@10 is not computed: same metric, nearest k
    assert "early stopping uses ndcg@5" in caplog.text
    config, *_ = prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, eval_protocol="paper",
                                                                         metrics=["Recall"], topk=[20]))
    assert config["valid_metric"] == "recall@20"  # no NDCG computed: the first key


def test_excluded_items_are_never_hits_when_k_exceeds_the_retrievable_items():
    """Items 0..5. Row 0 can retrieve only 1, 2, 4 (in that order) and its period holds {2, 3},
    3 excluded (seen before); row 1 can retrieve only 4 and holds {4, 5}, 5 excluded. The
    cut-offs 6 and 10 reach past every retrievable item into the -inf ones, which never count."""
    inf = torch.inf
    scores = torch.tensor([[-inf, 3.0, 2.0, -inf, 1.0, -inf],
                           [-inf, -inf, -inf, -inf, 5.0, -inf]])
    relevant = torch.zeros(2, 6, dtype=torch.bool)
    relevant[0, [2, 3]] = True
    relevant[1, [4, 5]] = True
    values = ranking_metrics(scores, relevant, EvalSettings(ALL_METRICS, (6, 10)))
    hand = {  # one hit each: row 0 at rank 2, row 1 at rank 1; |relevant| = 2 in both rows
        "precision@6": [1 / 6, 1 / 6], "precision@10": [1 / 10, 1 / 10],
        "recall@6": [1 / 2, 1 / 2], "recall@10": [1 / 2, 1 / 2],
        "hit@6": [1, 1], "hit@10": [1, 1],
        "mrr@6": [1 / 2, 1], "mrr@10": [1 / 2, 1],
        "ndcg@6": [G3 / (1 + G3), 1 / (1 + G3)], "ndcg@10": [G3 / (1 + G3), 1 / (1 + G3)],
        "map": [(1 / 2) / 2, (1 / 1) / 2],
    }
    assert list(values) == list(hand)
    for key, expected in hand.items():
        assert values[key].tolist() == pytest.approx(expected), key
