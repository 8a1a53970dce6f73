"""python -m recbole_rd.export: for every test user of a generated set (300 users), the exported scorer gives the
package's own top-10 (``full_sort_topk``): through ONNX for Caser, CaserRD, Fossil, FossilRD, SASRec, SASRecRD and
GRU4RecRD, through TorchScript for one of each kind of network; its ``serve.py`` and README answer in the
dataset's own tokens where neither recbole nor recbole_rd (nor torch, for ONNX) can be imported; what cannot be
exported is refused with the reason, leaving nothing behind.

Checkpoints are saved as training saves them, with every weight drawn at random (each term of each model weighs
in, and exact ties are rare)."""

import ast
import functools
import json
import subprocess
import sys

import pytest
import torch
from recbole.data.interaction import Interaction

from conftest import module_tiny, tiny_config_dict, write_tiny
from recbole_rd.case_study import full_sort_scores, full_sort_topk
from recbole_rd.checkpoint import dataset_fingerprint, save_checkpoint
from recbole_rd.errors import ConfigError
from recbole_rd.export import export_model
from recbole_rd.export.__main__ import main
from recbole_rd.model.registry import get_model
from recbole_rd.quick_start import load_data_and_model, prepare

onnxruntime = pytest.importorskip("onnxruntime")

SMALL = dict(MAX_ITEM_LIST_LENGTH=10, n_layers=1, n_heads=1, hidden_size=16, inner_size=16, embedding_size=16)
MODELS = {"Caser": {}, "CaserRD": {}, "Fossil": {}, "FossilRD": {}, "SASRec": SMALL, "SASRecRD": SMALL,
          "GRU4RecRD": SMALL}
TOLERANCE = 1e-4  # onnxruntime and torch sum in other orders: scores agree to ~1e-6, ties are closer than this


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    with module_tiny(tmp_path_factory, "export") as tmp:
        write_tiny(tmp, name="users300", n_users=300, n_items=150)
        yield tmp


def settings(tmp, **keys):
    return tiny_config_dict(tmp, **{"eval_protocol": "paper", **keys})


@pytest.fixture(scope="module")
def checkpoints(data):
    """``{model: checkpoint}`` with every weight random, saved as training saves it (users300, paper split)."""
    saved = {}
    for name, keys in MODELS.items():
        config, train, _, _ = prepare(name, "users300", config_dict=settings(data, **keys), reads_command_line=False)
        torch.manual_seed(len(saved))
        model = get_model(name)(config, train._dataset)
        with torch.no_grad():
            for weight in model.parameters():
                weight.normal_(0, 0.3)
        saved[name] = data / "saved" / f"{name}-random.pth"
        save_checkpoint(saved[name], model, config, dataset_fingerprint(train._dataset))
    return saved


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory):
    """``exported(model, fmt)``: the folder of that export, made once."""
    root = tmp_path_factory.mktemp("exports")
    return functools.cache(lambda name, fmt: export_model(checkpoints[name], root / f"{name}-{fmt}", fmt))


@pytest.fixture(scope="module")
def loaded(checkpoints):
    """``loaded(model)``: ``(model, dataset, test data)`` of its checkpoint, loaded once."""
    def load(name):
        _, model, dataset, _, _, test = load_data_and_model(checkpoints[name])
        return model, dataset, test
    return functools.cache(load)


def padded(indptr, items, rows=None):
    """``[n, width]`` of the CSR lists ``(indptr, items)``, 0 pads."""
    counts = indptr[1:] - indptr[:-1]
    out = torch.zeros(len(counts), max(1, int(counts.max())), dtype=torch.long)
    for row in range(len(counts)):
        out[row, :counts[row]] = items[indptr[row]:indptr[row + 1]]
    return out


def period_inputs(test):
    """The scorer's inputs for every test user: user, window, length, and as history and exclude the items
    the user visited before the period (the history Fossil ranks with, and what the evaluation excludes)."""
    seen = padded(*test.excluded)
    return test.users, test.windows, test.lengths, seen, seen


def run(folder, inputs):
    names = ("user", "item_seq", "item_seq_len", "history", "exclude")
    if (folder / "model.onnx").is_file():
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        scores, items = session.run(None, {name: t.numpy() for name, t in zip(names, inputs)})
        return torch.as_tensor(scores), torch.as_tensor(items)
    with torch.no_grad():
        return torch.jit.load(str(folder / "model.pt"))(*inputs)


def assert_top10_of(scores, items, reference, expected_items):
    """``(scores, items)`` is the top-10 of the ``reference`` scores, and equals ``expected_items`` item by item
    wherever no two reference scores tie (within TOLERANCE) at that place; a tie may come in either order."""
    best = torch.topk(reference, 11)
    values = best.values[:, :10]
    assert torch.allclose(scores, values, rtol=TOLERANCE, atol=TOLERANCE)  # the same scores, place by place
    assert torch.allclose(reference.gather(1, items), values, rtol=TOLERANCE, atol=TOLERANCE)  # the items' own
    assert all(len(set(row.tolist())) == 10 for row in items)
    gaps = (best.values[:, 1:] - best.values[:, :-1]).abs() <= TOLERANCE * (1 + best.values[:, 1:].abs())
    tie = torch.zeros_like(values, dtype=torch.bool)
    tie[:, 1:] |= gaps[:, :9]
    tie |= gaps[:, :10]
    assert torch.equal(items[~tie], expected_items[~tie])
    assert tie.float().mean() < 0.05  # ties are rare with random float weights: the check above has teeth


# every model class through ONNX; through TorchScript one of each kind of network (convolution, the whole
# history, self-attention, a recurrent network)
@pytest.mark.parametrize("name, fmt", [*((name, "onnx") for name in MODELS),
                                       *((name, "torchscript") for name in ("CaserRD", "Fossil", "SASRecRD",
                                                                            "GRU4RecRD"))])
def test_the_exported_top10_is_the_packages(exported, loaded, name, fmt):
    folder = exported(name, fmt)
    model, _, test = loaded(name)
    inputs = period_inputs(test)
    assert len(test.users) >= 250
    _, expected = full_sort_topk(test.users, model, test, 10)
    reference = full_sort_scores(test.users, model, test)
    assert_top10_of(*run(folder, inputs), reference, expected)
    repeats = torch.cat([inputs[3], inputs[3][:, :4]], 1)  # a history given with repeats: the same sets
    assert_top10_of(*run(folder, (*inputs[:3], repeats, inputs[4])), reference, expected)
    # nothing excluded: the model's own scores (Fossil's items of the history included), only padding at -inf
    with test.with_history(model), torch.no_grad():
        own = model.full_sort_predict(Interaction({test.uid: test.users, test.seq_field: test.windows,
                                                   test.len_field: test.lengths})).reshape(len(test.users), -1)
    own[:, 0] = -torch.inf
    nothing = torch.zeros(len(test.users), 1, dtype=torch.long)
    assert_top10_of(*run(folder, (*inputs[:4], nothing)), own, torch.topk(own, 10).indices)
    contract = json.loads((folder / "contract.json").read_text())
    assert contract["k"] == 10 and contract["n_items"] == model.n_items and contract["format"] == fmt


def test_seen_items_are_never_returned_and_the_rest_moves_up(exported):
    folder = exported("Fossil", "onnx")
    user, seq, length = torch.tensor([1, 2]), torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]]), torch.tensor([3, 5])
    _, free = run(folder, (user, seq, length, seq, torch.zeros(2, 1, dtype=torch.long)))
    _, items = run(folder, (user, seq, length, seq, free[:, :4]))  # the four best items, now excluded
    assert not set(items[0].tolist()) & set(free[0, :4].tolist())
    assert not set(items[1].tolist()) & set(free[1, :4].tolist())
    assert items[0, :6].tolist() == free[0, 4:].tolist()
    assert 0 not in items  # the padding item is never an answer


BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed here")
sys.meta_path.insert(0, Blocked())
for name in BLOCKED:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{{name}} imported: the block does not work")
"""


def run_blocked(code, folder, blocked):
    """``code`` in a fresh ``python -I`` in ``folder``, where importing any of ``blocked`` fails."""
    done = subprocess.run([sys.executable, "-I", "-c", BLOCKER.format(blocked=blocked) + code], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_block_is_what_stops_the_imports(tmp_path):
    """Without it the same interpreter finds all three: the tests below prove something."""
    found = "import importlib.util as u; assert all(u.find_spec(n) for n in ('recbole', 'recbole_rd', 'torch'))"
    subprocess.run([sys.executable, "-I", "-c", found], cwd=tmp_path, check=True, timeout=120)
    done = subprocess.run([sys.executable, "-I", "-c", BLOCKER.format(blocked=("recbole_rd",)) + "import recbole_rd"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "ImportError: recbole_rd is not installed here" in done.stderr


SERVE = """
import json, runpy
Scorer = runpy.run_path("serve.py")["Scorer"]
print(json.dumps(Scorer().recommend({recent!r}, history={history!r}, users={users!r})))
"""


@pytest.mark.parametrize("name, fmt, blocked", [("SASRecRD", "onnx", ("recbole", "recbole_rd", "torch")),
                                                ("Fossil", "torchscript", ("recbole", "recbole_rd"))])
def test_serve_py_answers_in_tokens_without_recbole_or_this_package(exported, loaded, name, fmt, blocked):
    folder = exported(name, fmt)
    model, dataset, test = loaded(name)
    users, windows, lengths, seen, _ = period_inputs(test)
    users, windows, lengths, seen = users[:40], windows[:40], lengths[:40], seen[:40]
    token = lambda field, ids: [str(t) for t in dataset.id2token(field, ids[ids > 0])]  # noqa: E731
    recent = [token(dataset.iid_field, row[:n]) for row, n in zip(windows, lengths)]
    history = [token(dataset.iid_field, row) for row in seen]
    answer = json.loads(run_blocked(SERVE.format(recent=recent, history=history, users=token(
        dataset.uid_field, users)), folder, blocked).strip().splitlines()[-1])
    items = torch.tensor([[dataset.token2id(dataset.iid_field, t) for t, _ in row] for row in answer])
    scores = torch.tensor([[s for _, s in row] for row in answer])
    _, expected = full_sort_topk(users, model, test, 10)
    assert_top10_of(scores, items, full_sort_scores(users, model, test), expected)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_readme_of_the_export_runs_without_recbole_or_this_package(exported, fmt):
    folder = exported("CaserRD", fmt)
    readme = (folder / "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    blocked = ("recbole", "recbole_rd") + (("torch",) if fmt == "onnx" else ())
    printed = ast.literal_eval(run_blocked(snippet, folder, blocked).strip().splitlines()[-1])
    tokens = json.loads((folder / "items.json").read_text())
    assert len(printed) == 10 and {token for token, _ in printed} <= set(tokens[1:])
    assert [score for _, score in printed] == sorted((score for _, score in printed), reverse=True)


def test_the_command_line_writes_the_folder(checkpoints, loaded, tmp_path, capsys):
    main([str(checkpoints["Caser"]), "--format=torchscript", f"--output={tmp_path / 'caser'}", "--topk=5"])
    assert f"exported to {tmp_path / 'caser'}" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "caser").iterdir()) == [
        "README.md", "contract.json", "items.json", "model.pt", "serve.py", "users.json"]
    model, _, test = loaded("Caser")
    scores, items = run(tmp_path / "caser", period_inputs(test))
    assert items.shape == (len(test.users), 5)
    assert torch.equal(items, full_sort_topk(test.users, model, test, 5).indices)


def refused_checkpoint(data, name, keys):
    config, train, _, _ = prepare(name, "tiny", config_dict=settings(data, **keys), reads_command_line=False)
    path = data / "saved" / f"{name}-refused.pth"
    save_checkpoint(path, get_model(name)(config, train._dataset), config, dataset_fingerprint(train._dataset))
    return path


def test_a_model_whose_graph_differs_is_refused_with_the_reason(data, tmp_path, monkeypatch):
    """SRGNN builds its session graphs with numpy: a traced graph would answer for the example batch only.
    It is refused by name, and without that entry by the check of the written graph on a fresh batch."""
    path = refused_checkpoint(data, "SRGNN", {"MAX_ITEM_LIST_LENGTH": 10, "embedding_size": 16})
    with pytest.raises(ConfigError, match="SRGNN cannot be exported: it builds each session's graph with numpy"):
        export_model(path, tmp_path / "out")
    monkeypatch.setattr("recbole_rd.export.scorer.NOT_EXPORTABLE", {})
    with pytest.raises(ConfigError, match="SRGNN cannot be exported: its exported graph does not reproduce its own "
                                          "scores on a check batch"):
        export_model(path, tmp_path / "out", "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_a_sequence_is_refused(data, tmp_path):
    path = refused_checkpoint(data, "Pop", {"eval_protocol": "recbole"})
    with pytest.raises(ConfigError, match="Pop cannot be exported: it is not a sequential model"):
        export_model(path, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_model_reading_a_field_the_graph_lacks_is_refused(checkpoints, tmp_path, monkeypatch):
    from recbole_rd.model.sequential_recommender.caser import Caser

    monkeypatch.setattr(Caser, "full_sort_predict", lambda self, interaction: interaction["timestamp_list"])
    with pytest.raises(ConfigError, match="Caser cannot be exported: its full_sort_predict reads the field "
                                          "'timestamp_list', for which the exported graph has no input"):
        export_model(checkpoints["Caser"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_are_refused(checkpoints, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="output: .*taken exists"):
        export_model(checkpoints["Caser"], tmp_path / "taken")
    with pytest.raises(ConfigError, match="format: 'pickle' is not one of"):
        export_model(checkpoints["Caser"], tmp_path / "out", "pickle")
    with pytest.raises(SystemExit) as stop:
        main([str(checkpoints["Caser"]), "--topk=0", f"--output={tmp_path / 'out'}"])
    assert stop.value.code == 2 and "error: topk: 0 is invalid" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
