"""No code path unpickles: files planted where RecBole looks for its pickled caches never run."""

import pickle
import sys
from pathlib import Path

import pytest

from conftest import TINY, tiny_config_dict, write_tiny
from recbole_rd.data.sample import generate_checkins
from recbole_rd.quick_start import prepare, run_recbole_rd
from recbole_rd.utils import ConfigError

CACHE_KEYS = ("save_dataset", "dataset_save_path", "save_dataloaders", "dataloaders_save_path")


class Payload:
    """Unpickling this runs code: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def plant(path, markers):
    """A malicious pickle at ``path``; its marker file is added to ``markers``."""
    marker = path.parent.parent / f"ran-{path.name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    markers.append(marker)
    return path


def plant_defaults(checkpoint_dir, dataset="tiny", models=("Caser", "CaserRD")):
    """Every default file name RecBole 1.2.1 unpickles (recbole/data/utils.py):
    ``<dataset>-<DatasetClass>.pth`` in create_dataset and
    ``<dataset>-for-<model>-dataloader.pth`` in load_split_dataloaders."""
    markers = []
    plant(checkpoint_dir / f"{dataset}-SequentialDataset.pth", markers)
    for model in models:
        plant(checkpoint_dir / f"{dataset}-for-{model}-dataloader.pth", markers)
    return markers


def ran(markers):
    """The planted files whose payload ran."""
    return [m.name[len("ran-"):] for m in markers if m.exists()]


def test_the_planted_payload_runs_when_unpickled(tmp_path):
    markers = plant_defaults(tmp_path / "saved")
    with open(tmp_path / "saved" / "tiny-for-Caser-dataloader.pth", "rb") as f:
        pickle.load(f)
    assert [m.exists() for m in markers] == [False, True, False]


@pytest.mark.parametrize("model", ["Caser", "CaserRD"])
def test_planted_files_at_default_paths_are_ignored(tiny, model):
    markers = plant_defaults(tiny / "saved")
    try:
        result = run_recbole_rd(model, "tiny", config_dict=tiny_config_dict(tiny, epochs=1))
    finally:  # checked even when the run fails after a payload ran
        assert ran(markers) == []
    users, items, _ = generate_checkins(**TINY)  # the model was built on the .inter file's data
    assert result["trainer"].model.n_items == len(set(items.tolist())) + 1  # + padding
    assert result["test_result"]["hit@10"] > 0
    assert ("teacher" in result) == (model == "CaserRD")


@pytest.mark.parametrize("protocol", ["recbole", "paper"])
def test_default_checkpoint_dir_in_the_working_directory_is_ignored(tiny, monkeypatch, protocol):
    monkeypatch.chdir(tiny)
    markers = plant_defaults(tiny / "saved")
    config_dict = tiny_config_dict(tiny, eval_protocol=protocol)
    del config_dict["checkpoint_dir"]  # RecBole's default: saved/
    try:
        config, train, _, _ = prepare("Caser", "tiny", config_dict=config_dict)
    finally:
        assert ran(markers) == []
    assert config["checkpoint_dir"] == "saved"
    assert len(train._dataset) > 0


@pytest.mark.parametrize("key", CACHE_KEYS)
def test_pickle_cache_keys_are_refused_naming_the_key(tiny, key):
    markers = plant_defaults(tiny / "saved")
    value = True if key.startswith("save_") else str(plant(tiny / "elsewhere" / f"{key}.pth", markers))
    try:
        with pytest.raises(ConfigError, match=rf"^{key}: .* is not supported: .*pickle.* Remove {key}\.$"):
            prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny, **{key: value}))
    finally:
        assert ran(markers) == []
    assert sorted(p.name for p in (tiny / "saved").iterdir()) == [  # nothing saved either
        "tiny-SequentialDataset.pth", "tiny-for-Caser-dataloader.pth", "tiny-for-CaserRD-dataloader.pth"]


def cli_with_planted_files(background):
    """``run_recbole_rd.py`` on the tiny data beside planted files, then again with
    ``--dataloaders_save_path`` at one of them: ``(completed runs, payloads ran after each)``."""
    tiny = background.folder("unpickle")
    write_tiny(tiny)
    markers = plant_defaults(tiny / "saved")
    script = Path(__file__).resolve().parents[1] / "run_recbole_rd.py"
    common = [sys.executable, str(script), "--model=Caser", "--dataset=tiny", f"--data_path={tiny / 'dataset'}",
              f"--checkpoint_dir={tiny / 'saved'}", "--epochs=1", "--use_gpu=False",
              "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}"]
    ok = background.run(common, cwd=tiny, timeout=300)
    ran_after_ok = ran(markers)
    planted = tiny / "saved" / "tiny-for-Caser-dataloader.pth"
    refused = background.run(common + [f"--dataloaders_save_path={planted}"], cwd=tiny, timeout=300)
    return (ok, refused), (ran_after_ok, ran(markers))


def test_cli_ignores_a_planted_dataloader_and_refuses_the_save_path_key(background):
    (ok, refused), (ran_after_ok, ran_after_refused) = background.result(cli_with_planted_files)
    assert ran_after_ok == []
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ran_after_refused == []
    assert refused.returncode == 2
    assert "error: dataloaders_save_path: " in refused.stderr and "Traceback" not in refused.stderr


# the command-line runs in fresh interpreters, started when the session starts (conftest.Background)
BACKGROUND = {"test_cli_ignores_a_planted_dataloader_and_refuses_the_save_path_key": [cli_with_planted_files]}
