"""--compare of a general model (BPR) under RecBole's protocol: per-user values from RecBole's own metric
classes (by hand, and their means equal to RecBole's result), paired tests written, and a teacher_model
that reads other training data refused before any folder is made."""

import csv
import os

import numpy as np
import pytest
import torch
from recbole.config import Config
from recbole.evaluator import Evaluator
from recbole.evaluator.collector import DataStruct

from conftest import module_tiny, tiny_config_dict
from recbole_rd import run_recbole_rd
from recbole_rd.compare import compare
from recbole_rd.errors import ConfigError
from recbole_rd.evaluator.recbole_per_user import per_user_values
from recbole_rd.trainer.trainer import SafeCheckpointMixin

METRICS = ["Recall", "NDCG", "Hit", "Precision", "MRR", "MAP"]


@pytest.fixture(autouse=True)
def numpy_as_recbole_sets_it():
    """RecBole's metrics use ``np.float``, which its Config restores on numpy >= 1.24."""
    Config.compatibility_settings(None)


def struct_of(hits, positives):
    """RecBole's collected ``rec.topk``: each user's hit flags of its top-k, then its number of positives."""
    struct = DataStruct()
    struct.set("rec.topk", torch.cat([torch.tensor(hits), torch.tensor(positives)[:, None]], dim=1))
    return struct


def test_per_user_values_by_hand():
    """User 1: a hit at rank 1 of 2 positives; user 2: a hit at rank 2 of 1 positive (top-2)."""
    evaluator = Evaluator({"metrics": METRICS, "topk": [2], "metric_decimal_place": 4})
    values = per_user_values(evaluator.metric_class, struct_of([[1, 0], [0, 1]], [2, 1]))
    by_hand = {"recall@2": [1 / 2, 1], "hit@2": [1, 1], "precision@2": [1 / 2, 1 / 2], "mrr@2": [1, 1 / 2],
               "ndcg@2": [1 / (1 + 1 / np.log2(3)), 1 / np.log2(3)], "map@2": [1 / 2, 1 / 2]}
    assert set(values) == set(by_hand)
    for metric, expected in by_hand.items():
        assert values[metric].tolist() == pytest.approx(expected, abs=1e-12), metric


def test_the_means_of_the_per_user_values_are_recboles_result():
    rng = np.random.default_rng(0)
    hits = rng.random((50, 10)) < 0.2
    positives = rng.integers(1, 6, 50)
    evaluator = Evaluator({"metrics": METRICS, "topk": [3, 10], "metric_decimal_place": 4})
    values = per_user_values(evaluator.metric_class, struct_of(hits.astype(int).tolist(), positives.tolist()))
    result = evaluator.evaluate(struct_of(hits.astype(int).tolist(), positives.tolist()))
    assert set(values) == set(result) and len(result) == 12
    for metric, value in result.items():
        assert round(float(values[metric].mean()), 4) == pytest.approx(value, abs=1e-12), metric


SMALL = dict(epochs=1, K=5, teacher_embedding_size=16, embedding_size=8)


@pytest.fixture(scope="module")
def bpr_compare(tmp_path_factory):
    """A tiny BPR comparison: ``(rows, results stem, passes)``; ``passes``: ``(trainer, eval data)`` of every
    evaluation, in order."""
    passes, evaluate = [], SafeCheckpointMixin.evaluate

    def counted(trainer, eval_data, *args, **kwargs):
        passes.append((trainer, eval_data))  # the objects (kept alive), not their ids: a freed id is reused
        return evaluate(trainer, eval_data, *args, **kwargs)

    with module_tiny(tmp_path_factory, "compare-general") as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(SafeCheckpointMixin, "evaluate", counted)
        rows = compare("BPR", "tiny", config_dict=tiny_config_dict(tmp, **SMALL), baselines=["Pop"],
                       results_dir=tmp / "results", seeds=(1,), distill_methods="rd",
                       progress=lambda message: None, argv=["run_recbole_rd.py", "--compare", "--model=BPR"])
    return rows, tmp / "results" / "tiny-BPR-compare", passes


def test_each_row_is_tested_in_one_pass_that_also_gives_the_per_user_values(bpr_compare):
    """One epoch: each row's trainer evaluates the validation data once and the test data once (its
    per-user values come from that pass, not from a second one)."""
    rows, _, passes = bpr_compare
    assert len(passes) == 2 * len(rows) and len(set(passes)) == len(passes)


def test_a_general_model_compares_under_recboles_protocol_with_paired_tests(bpr_compare):
    rows, stem, _ = bpr_compare
    assert [row["model"] for row in rows] == ["BPR-T", "BPR-S", "BPR-RD", "Pop"]
    assert [row["d"] for row in rows[:3]] == [16, 8, 8]
    assert "recbole protocol" in stem.with_suffix(".md").read_text()
    with open(f"{stem}-significance.csv", newline="") as f:
        tests = list(csv.DictReader(f))
    assert {(t["model"], t["against"]) for t in tests} == {("BPR-RD", "BPR-S"), ("BPR-RD", "BPR-T")}
    assert {t["users"] for t in tests} == {"60"}  # every user of the tiny data is tested once (RecBole's split)
    for test in tests:  # the tested means are the table's (full precision)
        table = {row["model"]: row for row in rows}
        assert float(test["mean"]) == pytest.approx(table["BPR-RD"][test["metric"]], abs=1e-12)
        assert float(test["mean_against"]) == pytest.approx(table[test["against"]][test["metric"]], abs=1e-12)
        assert 0 <= float(test["p_value"]) <= 1


def test_reused_general_rows_keep_their_per_user_values(bpr_compare, tmp_path):
    """--resume: the rows come back from the row store with their per-user values (no training), and the
    paired tests are the same."""
    rows, stem, _ = bpr_compare
    before = (stem.parent / f"{stem.name}-significance.csv").read_text()
    messages = []
    again = compare("BPR", "tiny", config_dict=tiny_config_dict(stem.parent.parent, **SMALL), baselines=["Pop"],
                    results_dir=stem.parent, seeds=(1,), distill_methods="rd", resume=True,
                    progress=messages.append, argv=["run_recbole_rd.py", "--compare", "--model=BPR", "--resume"])
    assert sum("reusing" in message for message in messages) == 4
    assert [row["ndcg@10"] for row in again] == [row["ndcg@10"] for row in rows]
    assert (stem.parent / f"{stem.name}-significance.csv").read_text() == before


@pytest.mark.parametrize("teacher, says, fix", [
    ("NeuMF", "NeuMF trains on labelled (user, item) rows and BPR on (user, item, sampled negative) pairs",
     "--teacher_checkpoint=saved/NeuMF-"),
    ("SASRec", "SASRec is a sequential model", "rankings as a file (teacher_rankings)"),
])
def test_a_teacher_model_reading_other_training_data_is_refused_before_any_folder(tiny, tmp_path, monkeypatch,
                                                                                  teacher, says, fix):
    empty = tmp_path / "run"
    empty.mkdir()
    monkeypatch.chdir(empty)
    settings = tiny_config_dict(tiny, **SMALL, teacher_model=teacher)
    settings.pop("checkpoint_dir", None)
    with pytest.raises(ConfigError) as refused:
        run_recbole_rd("BPRRD", "tiny", config_dict=settings)
    assert str(refused.value).startswith(f"teacher_model: {says}") and fix in str(refused.value)
    assert os.listdir(empty) == []


def test_a_teacher_model_reading_the_same_pairs_is_trained_first(tiny):
    result = run_recbole_rd("BPRRD", "tiny", config_dict=tiny_config_dict(tiny, **SMALL, teacher_model="LightGCN",
                                                                          n_layers=1))
    assert result["teacher"]["model"] == "LightGCN" and result["trainer"].teacher_ranking.per_user


def test_a_size_sweep_sets_every_width_key_of_the_student():
    """NeuMF's width is two keys: a sweep point sets both for S and the distilled rows (not only the first)."""
    from recbole_rd.compare.plan import parse_distill_methods, plan_rows
    from recbole_rd.model.registry import get_model

    config = _Config({"model": "NeuMFRD", "teacher_model": None}, get_model("NeuMFRD"))
    rows = plan_rows(config, "NeuMF", parse_distill_methods("rd"), [], sizes=(8,))
    assert [row.label for row in rows] == ["NeuMF-T", "NeuMF-S@8", "NeuMF-RD@8"]
    for row in rows[1:]:
        assert {key: row.settings[key] for key in ("mf_embedding_size", "mlp_embedding_size")} == {
            "mf_embedding_size": 8, "mlp_embedding_size": 8}


class _Config(dict):
    """A resolved config's two faces that plan_rows reads: keys and ``model_class``."""

    def __init__(self, values, model_class):
        super().__init__(values)
        self.model_class = model_class
