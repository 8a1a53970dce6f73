"""load_data_and_model: every checkpoint recbole_rd writes loads with its data, safely, and scores as trained."""

import random
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from recbole.utils.case_study import full_sort_topk as recbole_full_sort_topk

from recbole_rd.case_study import full_sort_topk
from recbole_rd.checkpoint import CheckpointError, dataset_fingerprint, load_checkpoint, run_config
from recbole_rd.data import DatasetError
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.distill.teacher import load_teacher
from recbole_rd.key_lists import PLACEMENT_KEYS
from recbole_rd.quick_start import load_data_and_model, prepare, resave_recbole_checkpoint, train_and_test
from recbole_rd.quick_start.teacher_plan import ensure_teacher
from recbole_rd.trainer import SafeTrainer
from conftest import Payload, tiny_config_dict, write_tiny

RUNS = {  # name: (model, extra config)
    "Caser": ("Caser", {}),
    "Fossil": ("Fossil", {}),
    "CaserRD": ("CaserRD", {"K": 5}),
    "FossilRD": ("FossilRD", {"K": 5}),
    "SASRec": ("SASRec", {"MAX_ITEM_LIST_LENGTH": 5}),  # RecBole's model, saved through SafeTrainer
    "SASRecRD": ("SASRecRD", {"K": 5, "MAX_ITEM_LIST_LENGTH": 5}),  # RecBole's model as student and teacher
    "Pop": ("Pop", {}),  # RecBole's model whose counts live in other_parameter; RecBole's random split
    "Caser-paper": ("Caser", {"eval_protocol": "paper"}),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("load")
    write_tiny(root)
    return root


class Trained(dict):
    """name -> what training left (the result, its config and data, the teacher's result),
    each run trained once, when a test first asks for it."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, name):
        model, extra = RUNS[name]
        self[name] = train(self.root, model, extra)
        return self[name]


@pytest.fixture(scope="module")
def trained(root):
    return Trained(root)


def train(root, model, extra):
    config, train_data, valid_data, test_data = prepare(model, "tiny", config_dict=tiny_config_dict(
        root, epochs=1, **extra))
    _, teacher = ensure_teacher(config, train_data, valid_data, test_data)  # as run_recbole_rd does
    result = train_and_test(config, train_data, valid_data, test_data)
    return {"result": result, "config": config, "data": (train_data, valid_data, test_data), "teacher": teacher}


def evaluate(config, model, test_data):
    return SafeTrainer(config, model).evaluate(test_data, load_best_model=False)


def top_items(model, test_data, users, k=5):
    """Top-k items RecBole's way (RecBole's full_sort_topk; ours where the paper protocol needs it)."""
    topk = full_sort_topk if isinstance(test_data, PeriodEvalData) else recbole_full_sort_topk
    return topk(users, model, test_data, k).indices


def some_users(test_data):
    return test_data.users[:8] if isinstance(test_data, PeriodEvalData) else torch.arange(1, 9)


def assert_same_split(before, after):
    for old, new in zip(before, after):
        if isinstance(old, PeriodEvalData):
            for field in ("users", "windows", "lengths"):
                assert torch.equal(getattr(old, field), getattr(new, field)), field
            for field in ("excluded", "relevant"):
                assert all(torch.equal(a, b) for a, b in zip(getattr(old, field), getattr(new, field))), field
        else:
            old_feat, new_feat = old._dataset.inter_feat, new._dataset.inter_feat
            assert len(new_feat) == len(old_feat) and set(new_feat.columns) <= set(old_feat.columns)
            for column in new_feat.columns:  # training may add columns (the student's instance ids)
                assert torch.equal(old_feat[column], new_feat[column]), column


def assert_loads_as_trained(run, checkpoint, result):
    torch.rand(3), np.random.rand(3), random.random()  # the scoring script's own draws must not move the split
    config, model, dataset, train_data, valid_data, test_data = load_data_and_model(checkpoint)
    saved = load_checkpoint(checkpoint)
    assert type(model) is type(result["trainer"].model)
    assert model.state_dict().keys() == saved["state_dict"].keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved["state_dict"][key]), key
    assert dataset_fingerprint(train_data._dataset) == saved["dataset"]
    assert_same_split(run["data"], (train_data, valid_data, test_data))
    recorded, _, _ = run_config(result["trainer"].config)
    loaded, _, _ = run_config(config)
    assert {k: v for k, v in loaded.items() if k not in PLACEMENT_KEYS} == \
           {k: v for k, v in recorded.items() if k not in PLACEMENT_KEYS}
    assert evaluate(config, model, test_data) == result["test_result"]
    users = some_users(test_data)
    trained_model, trained_test = result["trainer"].model, run["data"][2]
    assert torch.equal(top_items(model, test_data, users), top_items(trained_model, trained_test, users))
    return config, model, test_data


@pytest.mark.parametrize("name", list(RUNS))
def test_saved_model_loads_with_its_data_and_scores_as_trained(trained, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # RecBole's logger writes ./log
    run = trained[name]
    config, model, test_data = assert_loads_as_trained(run, run["result"]["checkpoint"], run["result"])
    if run["teacher"]:
        assert_loads_as_trained(run, run["teacher"]["checkpoint"], run["teacher"])
    if name == "Pop":  # the counts come back, not the zeros of a fresh Pop
        assert int(model.item_cnt.sum()) > 0
    if name == "Caser-paper":  # RecBole's case study cannot read a period; ours ranks like the evaluation
        with pytest.raises(AttributeError):
            recbole_full_sort_topk(test_data.users[:2], model, test_data, 5)
        scores = full_sort_topk(test_data.users[:1], model, test_data, test_data._dataset.item_num).values
        n_excluded = int(test_data.excluded[0][1] - test_data.excluded[0][0])
        assert int(torch.isinf(scores).sum()) == n_excluded + 1  # visited items and the padding item


def test_last_checkpoint_loads_too(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checkpoint = trained["Caser"]["result"]["checkpoint"] + ".last"
    config, model, *_ = load_data_and_model(checkpoint)
    assert torch.equal(model.W2.weight, load_checkpoint(checkpoint)["state_dict"]["W2.weight"])


def test_loading_ignores_the_scripts_command_line(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    checkpoint = trained["Caser"]["result"]["checkpoint"]  # trained under the plain argv of conftest
    monkeypatch.setattr(sys, "argv", ["score.py", "--metrics=['NoSuchMetric']", "--nproc=4", "--dataset=other",
                                      "--MAX_ITEM_LIST_LENGTH=9"])
    config, model, dataset, *_ = load_data_and_model(checkpoint)
    assert config["dataset"] == "tiny" and config["MAX_ITEM_LIST_LENGTH"] == 5 and config["nproc"] != 4


def rewrite(source, target, change):
    state = torch.load(source, weights_only=True)
    change(state)
    torch.save(state, target)
    return target


def test_moved_data_loads_with_a_data_path_override(trained, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = trained["Caser"]
    moved = rewrite(run["result"]["checkpoint"], tmp_path / "moved.pth",
                    lambda state: state["run_config"].update(data_path=str(tmp_path / "gone" / "tiny")))
    with pytest.raises(DatasetError, match=r"config_dict=\{'data_path'"):
        load_data_and_model(moved)
    config, model, dataset, *_, test_data = load_data_and_model(moved, config_dict={"data_path": str(root / "dataset")})
    assert config["data_path"] == str(root / "dataset" / "tiny")
    assert evaluate(config, model, test_data) == run["result"]["test_result"]


def test_other_data_under_the_same_name_is_refused(trained, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_tiny(tmp_path, seed=8)
    with pytest.raises(CheckpointError, match="(?s)different data.*point data_path at the data"):
        load_data_and_model(trained["Caser"]["result"]["checkpoint"],
                            config_dict={"data_path": str(tmp_path / "dataset")})


def test_old_checkpoint_without_run_config_still_teaches_but_cannot_be_loaded_whole(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = trained["CaserRD"]
    old = rewrite(run["teacher"]["checkpoint"], tmp_path / "old.pth",
                  lambda state: [state.pop(k) for k in ("run_config", "run_config_enums", "run_config_skipped",
                                                        "other_parameter")])
    with pytest.raises(CheckpointError, match="holds no run config.*train the model again"):
        load_data_and_model(old)
    teacher, _ = load_teacher(run["config"], run["data"][0]._dataset, old)
    assert torch.equal(teacher.W2.weight, run["teacher"]["trainer"].model.W2.weight)


def test_pickled_recbole_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "recbole.pth"
    torch.save({"config": Payload(marker), "epoch": 3, "state_dict": {"w": torch.ones(2)}}, path)
    with pytest.raises(CheckpointError) as err:
        load_data_and_model(path)
    message = str(err.value)
    for part in ("pickled Python objects", "torch >= 2.6 refuses", "could run any code", "train the model again",
                 "only if you trust the file", "weights_only=False", "resave_recbole_checkpoint", str(path)):
        assert part in message, part
    assert not marker.exists()


def test_trusted_recbole_checkpoint_resaved_with_recbole_rd_loads(trained, tmp_path, monkeypatch):
    """RecBole's Trainer pickles the Config: refused; unpickled by the user (trusted) and re-saved, it loads."""
    monkeypatch.chdir(tmp_path)
    run = trained["SASRec"]
    model = run["result"]["trainer"].model
    recbole_file = tmp_path / "SASRec-recbole.pth"
    torch.save({"config": run["config"], "epoch": 0, "state_dict": model.state_dict(),
                "other_parameter": model.other_parameter()}, recbole_file)
    with pytest.raises(CheckpointError, match="pickled Python objects.*Config"):
        load_data_and_model(recbole_file)
    resaved = resave_recbole_checkpoint(torch.load(recbole_file, weights_only=False), tmp_path / "SASRec-rd.pth")
    config, loaded, *_, test_data = load_data_and_model(resaved)
    assert evaluate(config, loaded, test_data) == run["result"]["test_result"]
    users = some_users(test_data)
    assert torch.equal(top_items(loaded, test_data, users), top_items(model, run["data"][2], users))


def test_corrupt_files_give_checkpoint_errors(trained, tmp_path):
    data = Path(trained["Caser"]["result"]["checkpoint"]).read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    noise = tmp_path / "noise.pth"
    noise.write_bytes(b"not a checkpoint\n" * 50)
    for path, message in ((cut, "truncated or corrupt"), (noise, "is not a checkpoint")):
        with pytest.raises(CheckpointError, match=message):
            load_data_and_model(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_data_and_model(tmp_path / "missing.pth")


def test_model_class_comes_from_the_module_that_saved_it():
    from recbole.model.sequential_recommender.caser import Caser as RecBoleCaser

    from recbole_rd.checkpoint import saved_model_class
    from recbole_rd.model.sequential_recommender import Caser

    assert saved_model_class({"model": "Caser", "model_module": Caser.__module__}, "a.pth") is Caser
    assert saved_model_class({"model": "Caser", "model_module": RecBoleCaser.__module__}, "b.pth") is RecBoleCaser
    with pytest.raises(CheckpointError, match="somewhere.else.Caser"):
        saved_model_class({"model": "Caser", "model_module": "somewhere.else"}, "c.pth")
