"""A new user's first hour: own data under a new name, every bad numeric value one error line (before
torch loads, on the command line), a file that is no checkpoint, a narrower teacher, Ctrl-C that names
the command to resume, RecBole's run_recbole on a student, no folders left by a refused run."""

import functools
import logging
import os
import shlex
import sys

import pytest
import yaml
from conftest import TINY, tiny_config_dict, write_tiny

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.config_values import VALUE_RULES
from recbole_rd.data.sample import generate_checkins
from recbole_rd.errors import CheckpointError, ConfigError
from recbole_rd.quick_start import prepare, run_recbole_rd
from recbole_rd.quick_start.cli import INTERRUPTED, main

UNIX_2012 = 1_333_457_009  # Unix seconds: realistic magnitudes, not 0..10^5


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # log/, saved/ and dataset/ go there


def write_own_data(folder, name="mycheckins"):
    """A user's own file: the atomic header, Unix-second times, a name no YAML knows."""
    users, items, times = generate_checkins(**TINY)
    path = folder / "dataset" / name / f"{name}.inter"
    path.parent.mkdir(parents=True)
    rows = "".join(f"u{u}\tvenue{i}\t{t + UNIX_2012}\n" for u, i, t in zip(users, items, times))
    path.write_text("user_id:token\titem_id:token\ttimestamp:float\n" + rows)
    return path


def own_config(folder, **overrides):
    """The tiny settings less ``load_col`` (a user's own data: nothing said about its columns)."""
    config = tiny_config_dict(folder)
    del config["load_col"]
    return {**config, **overrides}


def test_own_data_under_a_new_name_trains_from_its_header(tmp_path, caplog):
    write_own_data(tmp_path)
    with caplog.at_level(logging.INFO):
        config, train, _, _ = prepare("Caser", "mycheckins", config_dict=own_config(tmp_path, state="INFO"))
    assert config["load_col"] is None and train._dataset.inter_num > 0
    assert "timestamp" in train._dataset.inter_feat.columns
    assert "no properties/dataset/mycheckins.yaml" in caplog.text and "opt-in" in caplog.text
    assert config["user_inter_num_interval"] in (None, "[0,inf)")  # not filtered unless asked


def test_own_data_keeps_a_load_col_the_user_gives(tmp_path):
    write_own_data(tmp_path)
    with pytest.raises(ConfigError, match=r"load_col: its 'inter' list \['user_id', 'item_id'\] leaves out"):
        prepare("Caser", "mycheckins", config_dict=own_config(tmp_path, load_col={"inter": ["user_id", "item_id"]}))


def bad_values(key):
    """A typo and an out-of-range value of ``key``."""
    ok, _ = VALUE_RULES[key]
    typo = ["abc"]
    out_of_range = [value for value in (0, -1, 1.5, 2) if not ok(value)][:1]
    return typo + out_of_range


@pytest.mark.parametrize("key, value", [(key, value) for key in VALUE_RULES for value in bad_values(key)])
def test_every_numeric_key_refuses_a_bad_value_through_the_config(tiny, key, value):
    with pytest.raises(ConfigError, match=rf"^{key}: {value!r} is invalid; allowed: "):
        prepare("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, **{key: value}))
    assert not (tiny / "saved").exists()


def run_cli(background, *flags):
    """``python run_recbole_rd.py <flags>`` in a fresh process in a new empty folder; (exit status,
    stderr, modules loaded, the folder)."""
    code = ("import sys\nfrom recbole_rd.quick_start.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "finally:\n    print('LOADED', 'torch' in sys.modules, 'recbole' in sys.modules, file=sys.stderr)")
    cwd = background.folder("cli")
    done = background.run([sys.executable, "-c", code, *flags], cwd=cwd, timeout=300)
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    return done.returncode, done.stderr, loaded[0] if loaded else None, cwd


@functools.cache
def cli_run(*flags):
    """The background job of ``run_cli(background, *flags)``."""
    return lambda background: run_cli(background, *flags)


TYPOS = [
    ("--epochs=0", "error: epochs: 0 is invalid; allowed: an integer >= 1"),
    ("--epochs=-1", "error: epochs: -1 is invalid"),
    ("--epochs=abc", "error: epochs: 'abc' is invalid"),
    ("--embedding_size=0", "error: embedding_size: 0 is invalid"),
    ("--embedding_size=abc", "error: embedding_size: 'abc' is invalid"),
    ("--learning_rate=1e-3x", "error: learning_rate: '1e-3x' is invalid; allowed: a finite number > 0"),
    ("--dropout_prob=1", "error: dropout_prob: 1 is invalid; allowed: a number in [0, 1)"),
]
TYPO_FLAGS = ("--model=CaserRD", "--dataset=foursquare-sample")
MISSING_DATASET_FLAGS = ("--model=Caser", "--dataset=mydata")


@pytest.mark.parametrize("flag, message", TYPOS)
def test_command_line_typos_answer_before_torch_loads(background, flag, message):
    status, err, loaded, cwd = background.result(cli_run(*TYPO_FLAGS, flag))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and len(errors) == 1 and errors[0].startswith(message), err
    assert loaded == "LOADED False False"
    assert sorted(os.listdir(cwd)) == []  # no log/, saved/, dataset/


def test_a_missing_dataset_answers_before_torch_loads(background):
    status, err, loaded, cwd = background.result(cli_run(*MISSING_DATASET_FLAGS))
    assert status == 2 and "error: dataset 'mydata' not found: dataset/mydata/mydata.inter does not exist" in err
    assert loaded == "LOADED False False" and os.listdir(cwd) == []


def test_a_refused_config_leaves_no_folders(tiny, capsys):
    config_file = tiny / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config_dict(tiny, epochs=1)))
    argv = ["--model=Caser", "--dataset=tiny", f"--config_files={config_file}", "--eval_protocol=bogus"]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "error: eval_protocol: 'bogus'" in capsys.readouterr().err
    assert not (tiny / "log").exists() and not (tiny / "saved").exists()


def test_a_data_file_given_as_teacher_checkpoint_is_named_as_no_checkpoint(tiny):
    inter = write_tiny(tiny)
    no_checkpoint = rf"{inter} is not a checkpoint \(not a torch .pth archive, e.g. a data file\)"
    with pytest.raises(CheckpointError, match=no_checkpoint):
        load_checkpoint(inter)
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, teacher_checkpoint=str(inter)))


def test_a_teacher_narrower_than_its_student_is_warned_about(tiny, caplog):
    teacher = run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, embedding_size=8))
    with caplog.at_level(logging.WARNING):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
            tiny, epochs=1, K=5, embedding_size=16, teacher_checkpoint=teacher["checkpoint"]))
    assert "is narrower than the student (embedding_size 8 < 16)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
            tiny, epochs=1, K=5, embedding_size=8, teacher_checkpoint=teacher["checkpoint"]))
    assert "narrower" not in caplog.text


def interrupt_at_epoch(monkeypatch, model, epoch):
    """Ctrl-C while ``model`` trains epoch ``epoch`` (after the earlier epochs were evaluated and kept)."""
    from recbole.trainer import Trainer

    original = Trainer._train_epoch

    def train_or_stop(self, train_data, epoch_idx, *args, **kwargs):
        if type(self.model).__name__ == model and epoch_idx == epoch:
            raise KeyboardInterrupt
        return original(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", train_or_stop)


def cli_argv(tiny, *flags):
    config_file = tiny / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(tiny_config_dict(tiny, epochs=3, stopping_step=10, K=5)))
    return ["--dataset=tiny", f"--config_files={config_file}", *flags]


def stopped(argv, capsys):
    """Run ``main(argv)``, which Ctrl-C stops: (exit status, the resume command's flags)."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("interrupted: ") and "Traceback" not in "\n".join(err)
    _, _, command = err[-1].partition("; resume with: ")
    return stop.value.code, shlex.split(command)[2:]  # without "python run_recbole_rd.py"


def test_ctrl_c_exits_130_naming_the_command_that_resumes(tiny, monkeypatch, capsys):
    interrupt_at_epoch(monkeypatch, "Caser", 2)
    argv = cli_argv(tiny, "--model=Caser")
    code, resume = stopped(argv, capsys)
    last = next(flag.split("=", 1)[1] for flag in resume if flag.startswith("--resume_from="))
    assert code == INTERRUPTED == 130 and resume[:len(argv)] == argv and load_checkpoint(last)["epoch"] == 1
    monkeypatch.undo()
    monkeypatch.chdir(tiny)
    assert epochs_trained(monkeypatch, lambda: main(resume)) == [2]  # continues where it stopped


def epochs_trained(monkeypatch, run):
    """The epochs ``run()`` trains."""
    from recbole.trainer import Trainer

    original, seen = Trainer._train_epoch, []

    def recorded(self, train_data, epoch_idx, *args, **kwargs):
        seen.append(epoch_idx)
        return original(self, train_data, epoch_idx, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_epoch", recorded)
    run()
    return seen


def test_ctrl_c_in_a_students_teacher_resumes_the_teacher_then_trains_the_student(tiny, monkeypatch, capsys):
    interrupt_at_epoch(monkeypatch, "Caser", 1)
    code, resume = stopped(cli_argv(tiny, "--model=CaserRD"), capsys)
    assert code == 130 and any(flag.startswith("--resume_from=") and "teacher" in flag for flag in resume)
    monkeypatch.undo()
    monkeypatch.chdir(tiny)
    interrupt_at_epoch(monkeypatch, "CaserRD", 1)  # the teacher finishes, the student is stopped in turn
    code, resume = stopped(resume, capsys)
    flags = dict(flag[2:].split("=", 1) for flag in resume if "=" in flag)
    assert code == 130 and "teacher" not in flags["resume_from"] and "-teacher-" in flags["teacher_checkpoint"]
    assert load_checkpoint(flags["teacher_checkpoint"])["model"] == "Caser"
    monkeypatch.undo()
    monkeypatch.chdir(tiny)
    assert epochs_trained(monkeypatch, lambda: main(resume)) == [1, 2]  # the student only, from where it stopped
    assert load_checkpoint(flags["resume_from"].removesuffix(".last"))["model"] == "CaserRD"


def test_ctrl_c_before_anything_was_kept_says_to_start_over(tiny, monkeypatch, capsys):
    interrupt_at_epoch(monkeypatch, "Caser", 0)
    with pytest.raises(SystemExit) as stop:
        main(cli_argv(tiny, "--model=Caser"))
    assert stop.value.code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("run the command again to start over")


def test_ctrl_c_in_compare_says_to_resume_with_the_same_command(tiny, monkeypatch, capsys):
    interrupt_at_epoch(monkeypatch, "Caser", 0)
    argv = cli_argv(tiny, "--model=Caser", "--compare", f"--results_dir={tiny / 'results'}")
    code, resume = stopped(argv, capsys)
    assert code == 130 and resume == [*argv, "--resume"]


def test_recbole_run_recbole_on_a_student_says_what_to_call(tiny, monkeypatch):
    import recbole_rd  # noqa: F401  (lets RecBole find the students)
    from recbole.quick_start import run_recbole

    monkeypatch.chdir(tiny)
    what_to_call = r"CaserRD is a recbole_rd student.*recbole_rd.run_recbole_rd\(model='CaserRD'"
    with pytest.raises(ConfigError, match=what_to_call):
        run_recbole(model="CaserRD", dataset="tiny", config_dict=tiny_config_dict(tiny, MAX_ITEM_LIST_LENGTH=5))


def test_recbole_finds_every_student_but_keeps_its_own_models():
    import recbole_rd  # noqa: F401
    from recbole.utils import get_model

    assert get_model("CaserRD").__module__.startswith("recbole_rd.")
    assert get_model("SASRecRD").__name__ == "SASRecRD"
    assert get_model("Caser").__module__ == "recbole.model.sequential_recommender.caser"  # RecBole's own wins


# the command lines in fresh interpreters, started when the session starts (conftest.Background)
BACKGROUND = {"test_command_line_typos_answer_before_torch_loads":
              lambda params: [cli_run(*TYPO_FLAGS, params["flag"])],
              "test_a_missing_dataset_answers_before_torch_loads": [cli_run(*MISSING_DATASET_FLAGS)]}
