"""--compare with teacher_checkpoint: the T row is that checkpoint (tested on each seed's split, not
trained), every distilled row distils from it, and a wrong teacher is refused before any row trains."""

import hashlib
import json
import re

import pytest
from conftest import module_tiny, tiny_config_dict, write_tiny
from test_cli import cli, error_lines
from test_compare import read_csv

from recbole_rd.checkpoint import CheckpointError, load_checkpoint
from recbole_rd.compare import compare
from recbole_rd.evaluator import evaluate_period
from recbole_rd.quick_start import load_data_and_model, run_recbole_rd
from recbole_rd.utils import ConfigError

ARGV = ["run_recbole_rd.py", "--compare", "--model=Caser", "--dataset=tiny", "--teacher_checkpoint=T.pth"]
TEACHER = dict(epochs=2, K=5, eval_protocol="paper", embedding_size=64)  # trained once, outside any compare


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """(folder with the tiny data, path of a Caser trained on it, d=64, 2 epochs)."""
    with module_tiny(tmp_path_factory, "given") as tmp:
        result = run_recbole_rd("Caser", "tiny", config_dict=tiny_config_dict(tmp, **TEACHER))
    return tmp, result["checkpoint"]


@pytest.fixture(scope="module")
def given(teacher):
    """A compare of two seeds, RD and RD-position, from the teacher's checkpoint: (table rows, results
    stem, progress messages, files the compare wrote under checkpoint_dir, the checkpoint's sha256 before)."""
    tmp, path = teacher
    before, sha_before = set((tmp / "saved").iterdir()), sha256(path)
    messages = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["pytest"])
        rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tmp, epochs=1, K=5, teacher_checkpoint=path),
                       results_dir=tmp / "results", seeds=(1, 2), distill_methods="rd,rd-position",
                       teacher_model="Caser", progress=messages.append, argv=ARGV)
    written = {f.name for f in set((tmp / "saved").iterdir()) - before}
    return rows, tmp / "results" / "tiny-Caser-compare", messages, written, sha_before


def record_of(stem):
    return json.loads((stem.parent / f"{stem.name}-provenance.json").read_text())


def test_the_given_teacher_is_tested_not_trained(teacher, given):
    _, path = teacher
    rows, _, messages, written, sha_before = given
    assert [r["model"] for r in rows] == ["Caser-T", "Caser-S", "Caser-RD", "Caser-RD-position"]
    assert not any(name.startswith("Caser-tiny-teacher") for name in written), written  # no teacher trained
    trained = {name for name in written if name.endswith(".pth")}
    assert trained and all(name.startswith(("Caser-tiny-student", "CaserRD-tiny")) for name in trained), trained
    assert sha256(path) == sha_before  # the checkpoint is left as it was
    assert not any("training Caser-T" in m for m in messages)
    assert sum("testing Caser-T (given: " in m for m in messages) == 2  # once per seed


def test_teacher_row_is_what_testing_the_checkpoint_directly_gives(teacher, given):
    _, path = teacher
    rows, *_ = given
    config, model, _, _, _, test = load_data_and_model(path)
    per_user = evaluate_period(test, model, config["device"], per_user=True)
    direct = {m: float(v.double().mean()) for m, v in per_user.items()}
    t_row = rows[0]
    assert {m: t_row[m] for m in direct} == direct and t_row["map_std"] == 0.0  # the same model for both seeds
    state = load_checkpoint(path)
    assert t_row["parameters"] == state["parameter_count"] > rows[1]["parameters"] and t_row["d"] == 64 > rows[1]["d"]
    assert t_row["epochs"] == TEACHER["epochs"] != rows[1]["epochs"]  # what the teacher was trained with
    assert t_row["epochs_run"] is None and t_row["best_epoch"] == state["epoch"]
    assert t_row["time_vs_teacher"] == 1.0 and t_row["top10_lists_s"] > 0


def test_distilled_rows_distil_from_the_given_checkpoint_and_the_provenance_says_so(teacher, given):
    _, path = teacher
    _, stem, *_ = given
    record = record_of(stem)
    assert record["teacher"]["given"] is True and record["teacher"]["trained"] is False
    assert record["teacher"]["checkpoint"] == path and record["teacher"]["sha256"] == sha256(path)
    assert record["config"]["teacher_checkpoint"] == path
    for label in ("Caser-RD", "Caser-RD-position"):
        assert [s["trained_with"]["teacher_checkpoint"] for s in record["rows"][label]["per_seed"]] == [path, path]
    t_seeds = record["rows"]["Caser-T"]["per_seed"]
    assert [(s["epochs_run"], s["best_epoch"]) for s in t_seeds] == [(None, load_checkpoint(path)["epoch"])] * 2
    assert {s["trained_with"]["epochs"] for s in t_seeds} == {TEACHER["epochs"]}
    assert "teacher_checkpoint" not in t_seeds[0]["trained_with"]


def test_table_significance_and_plot_work_with_a_given_teacher(given):
    rows, stem, *_ = given
    md = stem.with_suffix(".md").read_text()
    best = rows[0]["best_epoch"]
    assert "| Caser-T | 64 | " in md and f"| not trained here, best {int(best)} ({TEACHER['epochs']}) |" in md
    assert "T given (" in md.splitlines()[0]
    written = read_csv(f"{stem}.csv")
    assert written[0]["model"] == "Caser-T" and written[0]["epochs_run"] == "" and written[1]["epochs_run"] == "1.0"
    tests = read_csv(f"{stem}-significance.csv")
    assert {t["against"] for t in tests if t["comparison"].endswith("vs T")} == {"Caser-T"}
    map_vs_t = next(t for t in tests if t["comparison"] == "RD vs T" and t["metric"] == "map")
    assert float(map_vs_t["mean_against"]) == pytest.approx(rows[0]["map"], abs=1e-12)
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_recbole_teacher_gives_its_own_t_row_without_teacher_model(tiny):
    """No --teacher_model: the checkpoint's class (here RecBole's SASRec) is the teacher."""
    sasrec = {**{k: v for k, v in TEACHER.items() if k != "embedding_size"}, "epochs": 1, "hidden_size": 16,
              "MAX_ITEM_LIST_LENGTH": 5}  # Caser's window: a teacher must see the windows it scores
    path = run_recbole_rd("SASRec", "tiny", config_dict=tiny_config_dict(tiny, **sasrec))["checkpoint"]
    rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=path),
                   baselines=["Pop", "Caser"], results_dir=tiny / "results", progress=lambda message: None)
    assert [(r["model"], r["role"]) for r in rows] == [("SASRec-T", "teacher"), ("Caser-S", "student"),
                                                       ("Caser-RD", "distilled"), ("Pop", "baseline"),
                                                       ("Caser", "baseline")]  # a Caser baseline: T is no Caser
    assert rows[0]["d"] == 16 and rows[0]["parameters"] == load_checkpoint(path)["parameter_count"]
    record = record_of(tiny / "results" / "tiny-Caser-compare")
    assert record["rows"]["SASRec-T"]["model"] == "SASRec" and record["teacher"]["sha256"] == sha256(path)
    assert record["rows"]["Caser-RD"]["per_seed"][0]["trained_with"]["teacher_checkpoint"] == path


def _other_dataset(folder):
    write_tiny(folder, name="other")
    return "other", "dataset name: checkpoint 'tiny' vs current 'other'"


def _fewer_items(folder):
    write_tiny(folder, n_items=70)  # same name, another item count
    return "tiny", "number of items(?s:.*)item-id mapping differs \\(sha256\n    checkpoint [0-9a-f]{64}\n    current"


@pytest.mark.parametrize("make_data", [_other_dataset, _fewer_items])
def test_a_teacher_of_other_data_is_refused_before_any_row_trains(teacher, tmp_path, make_data):
    _, path = teacher
    dataset, detail = make_data(tmp_path)
    messages = []
    with pytest.raises(CheckpointError, match=rf"teacher checkpoint {path} was trained on different data:\n(?s:.*){detail}"
                       ) as refused:
        compare("Caser", dataset, config_dict=tiny_config_dict(tmp_path, epochs=1, K=5, teacher_checkpoint=path),
                results_dir=tmp_path / "results", progress=messages.append)
    assert all(len(re.findall(r"\b[0-9a-f]{64}\b", line)) <= 1 for line in str(refused.value).splitlines())
    assert all(len(line) <= len(str(path)) + 120 for line in str(refused.value).splitlines())
    assert messages == [] and not list((tmp_path / "saved").glob("*.pth")) and not (tmp_path / "results").exists()


@pytest.mark.parametrize("key,value", [("eval_protocol", "recbole"), ("paper_split", [0.6, 0.2, 0.2]),
                                       ("MAX_ITEM_LIST_LENGTH", 4)])
def test_a_teacher_of_another_split_or_window_is_refused_before_any_row_trains(teacher, tiny, key, value):
    """The teacher (paper protocol, 70/10/20, window 5) has seen other training data, or cuts other
    windows: under RecBole's split it trained on most of the paper split's test items."""
    _, path = teacher
    messages = []
    with pytest.raises(CheckpointError, match=rf"teacher checkpoint {path} was trained on another split or window: "
                                              rf"{key}: checkpoint .* vs this run "):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=path,
                                                              **{key: value}),
                results_dir=tiny / "results", progress=messages.append)
    assert messages == [] and not list((tiny / "saved").glob("*.pth"))


def test_a_single_distilled_run_refuses_a_teacher_of_another_protocol(teacher, tiny):
    _, path = teacher
    with pytest.raises(CheckpointError, match="eval_protocol: checkpoint 'paper' vs this run 'recbole'"):
        run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=path,
                                                                       eval_protocol="recbole"))


@pytest.mark.parametrize("teacher_model", ["SASRec", "recbole.Caser"])  # recbole.Caser: RecBole's, not ours
def test_a_teacher_model_naming_another_architecture_is_refused(teacher, tiny, teacher_model):
    _, path = teacher
    messages = []
    with pytest.raises(ConfigError, match=rf"teacher_model: {teacher_model} names another architecture than "
                                          rf"teacher_checkpoint {path}, which holds a Caser; drop --teacher_model "
                                          rf".* or pass --teacher_model=Caser"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=path),
                teacher_model=teacher_model, results_dir=tiny / "results", progress=messages.append)
    assert messages == [] and not list((tiny / "saved").glob("*.pth"))


def _missing(folder):
    return folder / "missing.pth", "checkpoint not found: .*missing.pth"


def _corrupt(folder):
    path = folder / "corrupt.pth"
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    return path, "corrupt.pth is truncated or corrupt"


@pytest.mark.parametrize("bad_file", [_missing, _corrupt])
def test_a_missing_or_corrupt_checkpoint_is_refused_before_any_row_trains(tiny, bad_file):
    path, message = bad_file(tiny)
    messages = []
    with pytest.raises(CheckpointError, match=message):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=str(path)),
                results_dir=tiny / "results", progress=messages.append)
    assert messages == [] and not list((tiny / "saved").glob("*.pth"))


def test_the_command_line_passes_the_checkpoint_and_reports_a_mismatch_in_one_line(teacher, tiny, monkeypatch,
                                                                                   capsys):
    _, path = teacher
    monkeypatch.chdir(tiny)  # log/ goes there
    with pytest.raises(SystemExit) as stop:
        cli(tiny, "--model=Caser", "--compare", "--teacher_model=SASRec", f"--teacher_checkpoint={path}", K=5)
    assert stop.value.code == 2
    (line,) = error_lines(capsys)
    assert line.startswith(f"error: teacher_model: SASRec names another architecture than teacher_checkpoint {path}")


def test_a_setting_for_the_given_teacher_row_is_refused(teacher, tiny):
    _, path = teacher
    with pytest.raises(ConfigError, match=r"--Caser-T.epochs: the teacher is given by teacher_checkpoint"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, epochs=1, K=5, teacher_checkpoint=path),
                results_dir=tiny / "results", model_overrides={"Caser-T": {"epochs": 5}}, progress=print)
    assert not list((tiny / "saved").glob("*.pth"))
