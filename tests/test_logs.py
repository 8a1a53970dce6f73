"""What a run shows: progress bars, no dependency warnings, no config dumps, one closing summary line."""

import io
import os
import sys
import warnings

import pytest
import torch
import yaml
from conftest import tiny_config_dict, write_tiny

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.config import Config
from recbole_rd.quick_start import prepare, run_recbole_rd
from recbole_rd.quick_start.dependency_warnings import quiet_dependency_warnings
from recbole_rd.quick_start.run_files import checkpoint_path, start_logging
from recbole_rd.quick_start.training import _fit


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # log/ goes there


def without_progress_key(tiny, **overrides):
    """The tiny config without the conftest's ``show_progress: False`` (RecBole's default applies)."""
    config = tiny_config_dict(tiny, epochs=1, **overrides)
    if "show_progress" not in overrides:
        del config["show_progress"]
    return config


def test_progress_bars_show_by_default_and_not_with_show_progress_false(tiny, capsys):
    assert Config("Caser", "tiny", config_dict=without_progress_key(tiny))["show_progress"] is True
    run_recbole_rd("Caser", "tiny", config_dict=without_progress_key(tiny))
    assert "Train     0: 100%" in capsys.readouterr().err  # RecBole's tqdm bar of epoch 0
    run_recbole_rd("Caser", "tiny", config_dict=without_progress_key(tiny, show_progress=False))
    assert "Train " not in capsys.readouterr().err


def record(module, category, message):
    """The warnings that get through after quiet_dependency_warnings, for one warning raised from ``module``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_dependency_warnings()
        warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("module, category, message, silenced", [
    # what RecBole 1.2.1 triggers on every run (pandas and torch about RecBole's calls)
    ("recbole.data.dataset.dataset", FutureWarning, "A value is trying to be set on a copy of a DataFrame", True),
    ("recbole.trainer.trainer", FutureWarning, "`torch.cuda.amp.GradScaler(args...)` is deprecated", True),
    ("ray._private.parameter", UserWarning, "pkg_resources is deprecated as an API.", True),
    # ours, whatever the category, and anything else from our dependencies
    ("recbole_rd.data.dataset", FutureWarning, "our own deprecation", False),
    ("recbole_rd.quick_start.quick_start", UserWarning, "pkg_resources is deprecated as an API.", False),
    ("recbole.trainer.trainer", UserWarning, "a RecBole warning of another kind", False),
    ("ray.tune", UserWarning, "another ray warning", False),
])
def test_only_the_known_dependency_warnings_are_silenced(module, category, message, silenced):
    assert record(module, category, message) == ([] if silenced else [message])


def test_a_training_run_raises_no_dependency_warning(tiny):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1))
    shown = [f"{w.filename}:{w.lineno}: {w.message}" for w in caught if not issubclass(w.category, ResourceWarning)]
    assert shown == []


class ScriptedTrainer:
    """Calls ``fit``'s callback with RecBole's early-stopping counter after each epoch."""

    def __init__(self, cur_steps):
        self.cur_steps = cur_steps

    def fit(self, train_data, valid_data, saved, show_progress, callback_fn):
        for epoch, self.cur_step in enumerate(self.cur_steps):
            callback_fn(epoch, 0.0)
        return 0.5, {"ndcg@10": 0.5}


@pytest.mark.parametrize("cur_steps, best", [([0, 1, 2], 0), ([0, 1, 0, 1, 2], 2), ([0, 0, 0], 2), ([], None)])
def test_best_epoch_is_the_last_epoch_that_improved(cur_steps, best):
    config = {"show_progress": False}
    assert _fit(ScriptedTrainer(cur_steps), config, None, None, True) == (0.5, {"ndcg@10": 0.5}, best)


def test_many_runs_in_one_process_still_print(tiny, monkeypatch):
    """RecBole's init_logger wrapped sys.stdout and sys.stderr in colorama's wrapper once more at every run:
    after a few hundred runs in one process (a long tune) any print raised RecursionError."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    config = Config("Caser", "tiny", config_dict=tiny_config_dict(tiny))
    for _ in range(400):
        start_logging(config)
    print("\x1b[31mstill\x1b[0m printing")
    assert out.getvalue() == "still printing\n"  # colours off where the console is not a terminal, as before


def test_a_run_with_anomaly_detection_on_says_it_is_slow_and_how_to_switch_it_off(tiny, caplog):
    torch.autograd.set_detect_anomaly(True)  # as importing RecBole's sequential models leaves it
    try:
        prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny))
    finally:
        torch.autograd.set_detect_anomaly(False)
    assert "anomaly detection is on" in caplog.text and "set_detect_anomaly(False)" in caplog.text
    caplog.clear()
    prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny))
    assert "anomaly" not in caplog.text


def test_summary_names_the_tested_checkpoint_and_its_epoch(tiny):
    result = run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=3))
    saved = load_checkpoint(result["checkpoint"])
    assert result["best_epoch"] == saved["epoch"]
    assert result["summary"] == (f"Caser done: best epoch {saved['epoch']}, test result: "
                                 f"{ {k: float(v) for k, v in result['test_result'].items()} }, "
                                 f"checkpoint {result['checkpoint']}, "
                                 f"{result['seconds']:.1f} s")
    assert "np.float" not in result["summary"]
    assert 0 < result["seconds"] < 600


@pytest.mark.parametrize("model, overrides, tag, name", [
    ("Caser", {}, None, "Caser-tiny-d100-"),
    ("Caser", {}, "teacher", "Caser-tiny-teacher-d100-"),
    ("CaserRD", {}, None, "CaserRD-tiny-d50-"),
    ("SASRec", {}, None, "SASRec-tiny-d64-"),  # RecBole's model: its hidden_size
    ("SASRecRD", {"teacher_embedding_size": 48}, None, "SASRecRD-tiny-d24-"),  # size_key: hidden_size
    ("GRU4Rec", {"embedding_size": 32}, "GRU4Rec", "GRU4Rec-tiny-d32-"),  # a tag equal to the model is dropped
    ("Pop", {}, None, "Pop-tiny-"),  # no width to name
])
def test_checkpoint_names_say_what_they_hold(tiny, model, overrides, tag, name):
    config = Config(model, "tiny", config_dict=tiny_config_dict(tiny, **overrides))
    path = checkpoint_path(config, tag)
    assert os.path.dirname(path) == config["checkpoint_dir"]
    stem = os.path.basename(path)
    assert stem.startswith(name) and stem.endswith(f"-{os.getpid()}-{stem.split('-')[-1]}")
    assert stem[len(name)].isalpha()  # then the time (e.g. Nov-27-...), no 'dNone'


def newcomers_run(background):
    """``python -m recbole_rd.quick_start.cli`` at RecBole's default state (INFO) in a new folder
    beside the tiny data: ``(folder, completed process)``."""
    tiny = background.folder("newcomer")
    write_tiny(tiny)
    folder = tiny / "fresh"
    folder.mkdir()
    config = {**without_progress_key(tiny), "state": "INFO", "checkpoint_dir": "saved"}
    (folder / "tiny.yaml").write_text(yaml.safe_dump(config))
    return folder, background.run([sys.executable, "-m", "recbole_rd.quick_start.cli", "--model=Caser",
                                   "--dataset=tiny", "--config_files=tiny.yaml"], cwd=folder, timeout=300)


def generator_help(background):
    """``python -m recbole_rd.data.generate --help`` in a new folder: the completed process."""
    return background.run([sys.executable, "-m", "recbole_rd.data.generate", "--help"],
                          cwd=background.folder("generate"), timeout=120)


def test_a_newcomers_run_is_readable(background):
    """The command line at RecBole's default state (INFO): progress, epochs, the summary last; no
    warnings, no config or model dumps on the console (they are in the log file)."""
    folder, done = background.result(newcomers_run)
    assert done.returncode == 0, done.stderr[-3000:]
    console = done.stderr
    assert "Warning" not in console
    assert "Train     0: 100%" in console and "epoch 0 training" in console
    for dump in ("General Hyper Parameters", "Conv2d(", "Saving current", "run_recbole_rd"):
        assert dump not in console, dump
    (log_file,) = (folder / "log" / "Caser").glob("*.log")
    log = log_file.read_text()
    assert "General Hyper Parameters" in log and "Conv2d(" in log and "'--model=Caser'" in log
    (checkpoint,) = (folder / "saved").glob("Caser-tiny-d100-*.pth")
    last = console.strip().splitlines()[-1]
    assert "INFO  Caser done: best epoch 0, test result: {'recall@10': " in last
    assert last.endswith(" s") and f"checkpoint saved/{checkpoint.name}" in last
    assert done.stdout == ""  # the summary was logged: not printed twice
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 0


def test_the_sample_generator_runs_as_a_module_without_warnings(background):
    done = background.result(generator_help)
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr


# the command-line runs in fresh interpreters, started when the session starts (conftest.Background)
BACKGROUND = {"test_a_newcomers_run_is_readable": [newcomers_run],
              "test_the_sample_generator_runs_as_a_module_without_warnings": [generator_help]}
