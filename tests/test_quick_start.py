import json
import statistics
import sys
from pathlib import Path

import pytest
import torch
from recbole.config import Config as RecBoleConfig
from recbole.data import create_dataset, data_preparation
from recbole.trainer import Trainer

import recbole_rd
import recbole_rd.model.registry
from recbole_rd.config import Config
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start.cli import main
from recbole_rd.utils import properties_dir
from conftest import tiny_config_dict

ROOT = Path(__file__).resolve().parents[1]


def test_our_model_class_runs_inside_plain_recbole_code(tiny):
    props = properties_dir()
    config = RecBoleConfig(model=recbole_rd.Caser, dataset="tiny",
                           config_file_list=[str(props / "overall.yaml"), str(props / "model" / "Caser.yaml")],
                           config_dict=tiny_config_dict(tiny, epochs=1))
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = recbole_rd.Caser(config, train.dataset)
    trainer = Trainer(config, model)
    trainer.fit(train, valid, saved=False)
    result = trainer.evaluate(test, load_best_model=False)
    assert result["hit@10"] == pytest.approx(hit_at_10_by_hand(model, test), abs=5e-5)  # 4 decimals
    assert model.embedding_size == 100 and model.L == 5


@torch.no_grad()
def hit_at_10_by_hand(model, test):
    """Share of test users whose target is among the model's 10 best items, the padding item
    excluded, and the user's earlier items where the loader gives them (RecBole's full ranking;
    for sequential models it gives none: ``history`` is None, and ``scores[None]`` would be all)."""
    model.eval()
    hits = users = 0
    for interaction, history, _, positive_i in test:
        scores = model.full_sort_predict(interaction).view(len(interaction), -1)
        scores[:, 0] = -torch.inf
        if history is not None:
            scores[history] = -torch.inf
        top = scores.topk(10, dim=1).indices
        hits += int((top == positive_i.unsqueeze(1)).any(1).sum())
        users += len(interaction)
    return hits / users


def test_recbole_caser_is_reachable_beside_ours():
    from recbole.model.sequential_recommender.caser import Caser as RecBoleCaser

    assert get_model("Caser") is recbole_rd.Caser
    assert get_model("recbole.Caser") is RecBoleCaser


@pytest.mark.parametrize("model", ["Pop", "recbole.Caser"])
def test_builtin_recbole_models_run_through_our_script(tiny, model, capsys):
    overrides = tiny_config_dict(tiny, epochs=1)
    argv = [f"--model={model}", "--dataset=tiny"] + [f"--{k}={v}" for k, v in overrides.items()
                                                     if k not in ("load_col",)]
    argv.append("--load_col={'inter': ['user_id', 'item_id', 'timestamp']}")
    if model == "recbole.Caser":
        argv.append("--MAX_ITEM_LIST_LENGTH=5")
    sys.argv = ["run_recbole_rd.py"] + argv
    main(argv)
    out = capsys.readouterr().out
    assert "test result: {" in out and "ndcg@10" in out


def test_configs_share_no_value_read_from_a_yaml_file(tiny):
    """Each YAML file is parsed once per process: every config still gets its own values."""
    first = Config("Caser", "tiny", config_dict=tiny_config_dict(tiny))
    assert first["topk"] == [10]  # properties/overall.yaml
    first["topk"].append(20)
    assert Config("Caser", "tiny", config_dict=tiny_config_dict(tiny))["topk"] == [10]


def test_installed_package_finds_its_properties():
    folder = properties_dir()
    assert (folder / "overall.yaml").is_file() and (folder / "model" / "CaserRD.yaml").is_file()
    assert {"Caser", "CaserRD", "Fossil", "FossilRD"} <= set(recbole_rd.model.registry.plugin_model_names())


def test_compare_writes_table_significance_and_plot(tiny, tmp_path):
    from recbole_rd.compare import compare

    messages = []
    rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5), baselines=["Pop"],
                   results_dir=tmp_path / "results", seeds=(1, 2), progress=messages.append)
    assert [r["model"] for r in rows] == ["Caser-T", "Caser-S", "Caser-RD", "Pop"]
    assert rows[1]["parameters"] < rows[0]["parameters"] and rows[0]["time_vs_teacher"] == 1.0
    assert set(rows[0]) >= {"precision@3", "ndcg@10", "map", "map_std"}
    stem = tmp_path / "results" / "tiny-Caser-compare"
    per_seed = [seed["test_result"]["map"] for seed in json.loads(
        (tmp_path / "results" / "tiny-Caser-compare-provenance.json").read_text())["rows"]["Caser-RD"]["per_seed"]]
    assert len(per_seed) == 2 and 0 < per_seed[0] < 1  # two seeds: a mean and a std
    assert rows[2]["map"] == statistics.fmean(per_seed) and rows[2]["map_std"] == statistics.stdev(per_seed)
    assert "[seed 2] 4/4 training Pop" in messages
    md = stem.with_suffix(".md").read_text()
    table = md[md.index("| model |"):]
    assert table.count("\n") == 6 and "| Caser-RD |" in table  # header, rule, 4 rows
    assert f"| {rows[2]['map']:.4f} ± {rows[2]['map_std']:.4f} |" in table
    assert stem.with_suffix(".csv").read_text().splitlines()[0].startswith("model,d,parameters,")
    tests = (tmp_path / "results" / "tiny-Caser-compare-significance.md").read_text()
    assert tests.count("RD vs S") == 7 and tests.count("RD vs T") == 7
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_gives_same_metrics(tiny):
    first = recbole_rd.run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=2))
    second = recbole_rd.run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=2))
    assert first["test_result"] == second["test_result"]
    assert torch.equal(first["trainer"].model.W2.weight, second["trainer"].model.W2.weight)


def test_topk_timing_scores_in_blocks_and_returns_seconds(tiny_data, monkeypatch):
    from recbole_rd.compare import timing

    config, train, _, test = tiny_data
    model = get_model("Caser")(config, train._dataset)
    sizes = []
    original = model.full_sort_predict
    monkeypatch.setattr(model, "full_sort_predict", lambda inter: sizes.append(len(inter)) or original(inter))
    monkeypatch.setattr(timing, "rows_per_block", lambda n_items: 7)
    clock = iter([100.0, 105.0, 200.0, 203.5])  # two passes: 5 s, then 3.5 s
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    seconds = timing.time_topk_lists(model, test, repeats=2)
    users = sum(len(batch[0]) for batch in test)
    assert max(sizes) == 7 and sum(sizes) == 2 * users  # every user, in blocks of 7, twice
    assert seconds == 3.5  # the best pass
