"""One routine trains the teacher first (quick start, tune, compare): ensure_teacher and teacher_config."""

import pytest
from conftest import tiny_config_dict

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.config import Config
from recbole_rd.quick_start import prepare, run_recbole_rd
from recbole_rd.quick_start.teacher_plan import ensure_teacher, teacher_config
from recbole_rd.utils import ConfigError


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # log/ goes there


def student(tiny, model="CaserRD", **overrides):
    return Config(model, "tiny", config_dict=tiny_config_dict(tiny, **overrides))


def test_the_teacher_is_the_base_model_at_teacher_size(tiny):
    config = student(tiny)
    teacher = teacher_config(config)
    assert (teacher["model"], teacher["embedding_size"]) == ("Caser", 100)
    assert (config["model"], config["embedding_size"]) == ("CaserRD", 50)  # the student's is untouched


def test_the_teachers_size_goes_through_the_students_size_key(tiny):
    config = student(tiny, "SASRecRD", teacher_embedding_size=48)
    teacher = teacher_config(config)
    assert (teacher["model"], teacher["hidden_size"]) == ("SASRec", 48)
    assert config["hidden_size"] == 24


def test_a_teacher_of_another_architecture_has_its_own_properties_and_the_students_windows(tiny):
    config = student(tiny, teacher_model="SASRec", epochs=3)
    teacher = teacher_config(config)
    assert (teacher["model"], teacher["hidden_size"], teacher["n_layers"]) == ("SASRec", 100, 2)
    assert teacher["embedding_size"] is None and teacher["L"] is None  # Caser's keys stay Caser's
    assert teacher["MAX_ITEM_LIST_LENGTH"] == config["MAX_ITEM_LIST_LENGTH"] == 5
    assert (teacher["epochs"], teacher["checkpoint_dir"], teacher["seed"]) == (3, config["checkpoint_dir"], 2020)
    assert teacher["train_neg_sample_args"]["distribution"] == "none" and teacher["loss_type"] == "CE"


def test_a_bpr_teacher_of_another_architecture_is_refused(tiny):
    with pytest.raises(ConfigError, match="teacher_model: GRU4Rec with loss_type BPR needs sampled negatives"):
        teacher_config(student(tiny, teacher_model="GRU4Rec", loss_type="BPR"))


def test_ensure_teacher_trains_once_then_uses_the_checkpoint(tiny):
    config, train, valid, test = prepare("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, teacher_embedding_size=16))
    path, result = ensure_teacher(config, train, valid, test)
    assert config["teacher_checkpoint"] == path == result["checkpoint"]
    assert path.startswith(str(tiny / "saved" / "Caser-tiny-teacher-d16-"))
    saved = load_checkpoint(path)
    assert (saved["model"], saved["hyper_parameters"]["embedding_size"]) == ("Caser", 16)
    assert (result["model"], result["d"]) == ("Caser", 16)
    assert ensure_teacher(config, train, valid, test) == (path, None)  # given now: nothing trained
    assert len(list((tiny / "saved").glob("*.pth"))) == 1


def test_ensure_teacher_checks_the_students_keys_before_training(tiny):
    config, train, valid, test = prepare("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, alpha=-1))
    with pytest.raises(ConfigError, match="alpha: -1 is invalid"):
        ensure_teacher(config, train, valid, test)
    assert not list((tiny / "saved").glob("*.pth"))


def test_a_model_that_is_no_student_has_no_teacher(tiny):
    assert ensure_teacher(*prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny))) == (None, None)


def test_a_caser_student_learns_from_a_sasrec_teacher(tiny):
    result = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, teacher_model="SASRec", teacher_embedding_size=16))
    teacher = load_checkpoint(result["teacher"]["checkpoint"])
    assert (teacher["model"], teacher["hyper_parameters"]["hidden_size"]) == ("SASRec", 16)
    assert result["model"] == "CaserRD" and load_checkpoint(result["checkpoint"])["model"] == "CaserRD"
