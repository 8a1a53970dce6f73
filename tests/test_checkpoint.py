import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from recbole_rd.checkpoint import CheckpointError, load_checkpoint
from conftest import config_with
from recbole_rd.model.sequential_recommender import Caser
from recbole_rd.quick_start import run_recbole_rd, train_and_test
from recbole_rd.utils import atomic_write
from conftest import Payload, module_tiny, tiny_config_dict


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(config, train, valid, test) for Caser on the tiny dataset, and a 1-epoch Caser trained on
    them: only read by the tests."""
    from recbole_rd.quick_start import prepare

    with module_tiny(tmp_path_factory, "checkpoint") as tmp:
        config, train, valid, test = prepare("Caser", "tiny", config_dict=tiny_config_dict(tmp))
        return (config, train, valid, test), train_and_test(config_with(config, epochs=1), train, valid, test)


@pytest.fixture
def trained(tiny_run):
    return tiny_run[1]


def test_checkpoint_round_trip_gives_identical_scores(trained, tiny_run):
    config, train, _, test = tiny_run[0]
    state = load_checkpoint(trained["checkpoint"])
    assert state["model"] == "Caser" and state["dataset"]["dataset"] == "tiny"
    assert state["hyper_parameters"]["embedding_size"] == 100
    fresh = Caser(config, train._dataset).eval()
    fresh.load_state_dict(state["state_dict"])
    batch = next(iter(test))[0]
    expected = trained["trainer"].model.eval().full_sort_predict(batch)
    torch.testing.assert_close(fresh.full_sort_predict(batch), expected, rtol=0, atol=0)


def test_checkpoint_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"format": "recbole-rd-checkpoint/1", "state_dict": Payload(marker)}, path)
    with pytest.raises(CheckpointError, match="refused to load.*pickled Python objects"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints_give_clear_errors(trained, tmp_path):
    data = open(trained["checkpoint"], "rb").read()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(cut)
    plain = tmp_path / "recbole.pth"
    torch.save({"state_dict": {}, "epoch": 3}, plain)
    with pytest.raises(CheckpointError, match="not a recbole_rd checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")


def test_killed_writer_leaves_previous_file_intact(tmp_path):
    target = tmp_path / "ckpt.pth"
    atomic_write(target, lambda f: torch.save({"v": torch.ones(3)}, f))
    script = textwrap.dedent(f"""
        import sys, time, torch
        from recbole_rd.utils import atomic_write
        def slow(f):
            f.write(b"partial" * 1000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write({str(target)!r}, slow)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert torch.equal(torch.load(target, weights_only=True)["v"], torch.ones(3))


def test_recbole_builtin_model_checkpoint_loads_safely(tiny):
    result = run_recbole_rd("GRU4Rec", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, MAX_ITEM_LIST_LENGTH=5))
    state = load_checkpoint(result["checkpoint"])
    assert state["model"] == "GRU4Rec" and "gru_layers.weight_ih_l0" in state["state_dict"]
    weights = result["trainer"].model.state_dict()  # the tested (best) model
    assert state["state_dict"].keys() == weights.keys()
    assert all(torch.equal(state["state_dict"][name], value) for name, value in weights.items())


def test_interrupted_training_resumes_to_the_same_result(tiny, tiny_teachers):
    from pathlib import Path

    base = tiny_config_dict(tiny, stopping_step=100, K=5, dynamic_start_epoch=1)
    teacher = tiny_teachers[1]["Caser"]  # a Caser trained on the same data (the test only distils from it)
    full = run_recbole_rd("CaserRD", "tiny", config_dict={**base, "epochs": 4, "teacher_checkpoint": teacher})
    first = run_recbole_rd("CaserRD", "tiny", config_dict={**base, "epochs": 2, "teacher_checkpoint": teacher})
    last = first["checkpoint"] + ".last"
    assert Path(last).is_file() and load_checkpoint(last)["epoch"] == 1
    resumed = run_recbole_rd("CaserRD", "tiny", config_dict={
        **base, "epochs": 4, "teacher_checkpoint": teacher, "resume_from": last})
    assert resumed["trainer"].start_epoch == 2
    assert resumed["test_result"] == full["test_result"]
    torch.testing.assert_close(resumed["trainer"].model.W2.weight, full["trainer"].model.W2.weight)
