"""python -m recbole_rd.export: the exported scorer gives the package's own top-10 (ONNX and TorchScript,
Caser, CaserRD, SASRec), runs where neither recbole nor recbole_rd can be imported, and refuses what it
cannot export, leaving nothing behind."""

import json
import subprocess
import sys

import pytest
import torch

from conftest import tiny_config_dict
from recbole_rd.case_study import full_sort_scores
from recbole_rd.errors import ConfigError
from recbole_rd.export import export_model
from recbole_rd.export.__main__ import main
from recbole_rd.quick_start import load_data_and_model, run_recbole_rd

onnxruntime = pytest.importorskip("onnxruntime")

MODELS = {"Caser": {}, "CaserRD": {"K": 5}, "SASRec": {"MAX_ITEM_LIST_LENGTH": 8, "hidden_size": 16}}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One paper-protocol checkpoint per exportable model class, and a Fossil one, on the tiny data."""
    from conftest import module_tiny

    with module_tiny(tmp_path_factory, "export") as tmp:
        saved = {name: run_recbole_rd(name, "tiny", config_dict=tiny_config_dict(
            tmp, epochs=1, eval_protocol="paper", **keys))["checkpoint"] for name, keys in {
            **MODELS, "Fossil": {}}.items()}
    return saved, tmp


def inputs_of(test_data):
    """The exported model's inputs for every test user of a paper-protocol split: user, window, its length,
    and the items the user visited before the period (excluded, as the evaluation excludes them)."""
    indptr, items = test_data.excluded
    counts = indptr[1:] - indptr[:-1]
    exclude = torch.zeros(len(test_data.users), max(1, int(counts.max())), dtype=torch.long)
    for row in range(len(test_data.users)):
        exclude[row, :counts[row]] = items[indptr[row]:indptr[row + 1]]
    return test_data.users, test_data.windows, test_data.lengths, exclude


def assert_same_top10(scores, items, expected_scores):
    """``items`` is the top-10 of ``expected_scores``: the same scores in order, and each item's own score
    (ties, equal scores within 1e-5, may come in either order)."""
    best = torch.topk(expected_scores, 10)
    assert torch.allclose(torch.as_tensor(scores), best.values, atol=1e-5)
    assert torch.allclose(expected_scores.gather(1, torch.as_tensor(items)), best.values, atol=1e-5)
    same = (torch.as_tensor(items) == best.indices).all(1).float().mean()
    assert same > 0.95  # ties are rare: nearly every list is identical item by item


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_exported_top10_is_the_packages(checkpoints, tmp_path, name, fmt):
    saved, _ = checkpoints
    folder = export_model(saved[name], tmp_path / "out", fmt)
    _, model, _, _, _, test = load_data_and_model(saved[name])
    user, window, length, exclude = inputs_of(test)
    expected = full_sort_scores(user, model, test)
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        scores, items = session.run(None, {"user": user.numpy(), "item_seq": window.numpy(),
                                           "item_seq_len": length.numpy(), "exclude": exclude.numpy()})
    else:
        scores, items = torch.jit.load(str(folder / "model.pt"))(user, window, length, exclude)
    assert len(user) >= 50
    assert_same_top10(scores, items, expected)
    contract = json.loads((folder / "contract.json").read_text())
    assert contract["k"] == 10 and contract["n_items"] == model.n_items and contract["format"] == fmt


def test_seen_items_are_never_returned(checkpoints, tmp_path):
    saved, _ = checkpoints
    folder = export_model(saved["Caser"], tmp_path / "out")
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    feed = {"user": torch.tensor([1, 2]), "item_seq": torch.tensor([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 11]]),
            "item_seq_len": torch.tensor([3, 6]), "exclude": torch.zeros(2, 1, dtype=torch.long)}
    _, free = session.run(None, {k: v.numpy() for k, v in feed.items()})
    feed["exclude"] = torch.as_tensor(free[:, :4])  # the four best items, now excluded
    _, items = session.run(None, {k: v.numpy() for k, v in feed.items()})
    assert not set(items[0]) & set(free[0, :4]) and not set(items[1]) & set(free[1, :4])
    assert list(items[0, :6]) == list(free[0, 4:])  # the rest moves up, in order
    assert 0 not in items  # the padding item is never an answer


BLOCKER = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("recbole", "recbole_rd"):
            raise ImportError(f"{name} is not installed here")
sys.meta_path.insert(0, Blocked())
for name in ("recbole", "recbole_rd"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{name} imported: the block does not work")
"""


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_readme_of_the_export_runs_without_recbole_or_this_package(checkpoints, tmp_path, fmt):
    saved, _ = checkpoints
    folder = export_model(saved["CaserRD"], tmp_path / "out", fmt)
    readme = (folder / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    run = subprocess.run([sys.executable, "-I", "-c", BLOCKER + snippet + "\nprint(len(top[0]))"], cwd=folder,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "10"
    tokens = json.loads((folder / "items.json").read_text())
    assert run.stdout.strip().splitlines()[-2].startswith("[") and all(
        token in tokens for token in eval(run.stdout.strip().splitlines()[-2]))


def test_fossil_is_refused_with_the_reason_and_nothing_is_written(checkpoints, tmp_path):
    saved, _ = checkpoints
    with pytest.raises(ConfigError, match="Fossil cannot be exported: its score reads each user's whole item"):
        export_model(saved["Fossil"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_are_refused(checkpoints, tmp_path, capsys):
    saved, _ = checkpoints
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="output: .*taken exists"):
        export_model(saved["Caser"], tmp_path / "taken")
    with pytest.raises(ConfigError, match="format: 'pickle' is not one of"):
        export_model(saved["Caser"], tmp_path / "out", "pickle")
    with pytest.raises(SystemExit) as stop:
        main([saved["Caser"], "--topk=0", f"--output={tmp_path / 'out'}"])
    assert stop.value.code == 2 and "error: topk: 0 is invalid" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
