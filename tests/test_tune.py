import pytest

from recbole_rd.quick_start import run_recbole_rd
from recbole_rd.quick_start.tune import tune
from conftest import tiny_config_dict


def test_two_trial_search_over_distillation_keys(tiny, tmp_path):
    pytest.importorskip("hyperopt")
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,2.0]\nK choice [5]\n")
    out = tmp_path / "result.txt"
    search = tune("CaserRD", "tiny", str(space), config_dict=tiny_config_dict(tiny, epochs=1),
                  algo="exhaustive", max_evals=2, output_file=str(out))
    assert len(search.params2result) == 2
    assert {p["alpha"] for p in map(eval_params, search.params2result)} == {0.5, 2.0}
    teachers = list((tiny / "saved").glob("Caser-tiny-teacher-*.pth"))
    assert len(teachers) == 1  # trained once, shared by both trials
    trials = {eval_params(p)["alpha"]: result for p, result in search.params2result.items()}
    best_alpha = max(trials, key=lambda alpha: trials[alpha]["best_valid_score"])
    assert search.best_params["alpha"] == best_alpha  # the best validation score wins, test unseen
    again = run_recbole_rd("CaserRD", "tiny", config_dict=tiny_config_dict(
        tiny, epochs=1, alpha=best_alpha, K=5, teacher_checkpoint=str(teachers[0])))
    assert again["best_valid_score"] == trials[best_alpha]["best_valid_score"]
    assert dict(again["test_result"]) == dict(trials[best_alpha]["test_result"])  # the trial is what it reports
    assert "alpha:0.5" in out.read_text() and "alpha:2.0" in out.read_text()


def eval_params(text):
    return {k: float(v) for k, v in (item.split(":") for item in text.split(", "))}


def fake_trials(monkeypatch, diverging=(), raising=None):
    """``run_recbole_rd`` of the tune module replaced: alpha in ``diverging`` raises TrainingDiverged,
    alpha in ``raising`` raises its exception, any other alpha scores ``alpha / 10`` on validation."""
    from recbole_rd.quick_start import tune as tune_module
    from recbole_rd.utils import TrainingDiverged

    ran = []

    def run(model, dataset, files, config):
        ran.append(config["alpha"])
        if config["alpha"] in diverging:
            raise TrainingDiverged("CaserRD: the training loss became NaN; lower learning_rate (now 0.001)")
        if config["alpha"] in (raising or {}):
            raise raising[config["alpha"]]
        return {"best_valid_score": config["alpha"] / 10, "valid_score_bigger": True,
                "best_valid_result": {"ndcg@10": config["alpha"] / 10}, "test_result": {"ndcg@10": 0.5}}

    monkeypatch.setattr(tune_module, "run_recbole_rd", run)
    return ran


def test_a_diverged_trial_is_reported_and_the_search_goes_on(tmp_path, monkeypatch):
    pytest.importorskip("hyperopt")
    monkeypatch.setattr("sys.argv", ["tune"])
    ran = fake_trials(monkeypatch, diverging={3.0})
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,3.0,2.0]\n")
    out = tmp_path / "result.txt"
    search = tune("Caser", "tiny", str(space), config_dict={"teacher_checkpoint": "given"}, algo="exhaustive",
                  max_evals=3, output_file=str(out))
    assert sorted(ran) == [0.5, 2.0, 3.0]  # the trial after the failed one ran too
    assert search.best_params["alpha"] == 2.0 and list(search.failed) == ["alpha:3.0"]
    written = out.read_text()
    assert "alpha:0.5" in written and "alpha:2.0" in written
    assert "alpha:3.0\nValid result:\nfailed : CaserRD: the training loss became NaN" in written


def test_a_search_of_diverged_trials_only_says_so(tmp_path, monkeypatch):
    pytest.importorskip("hyperopt")
    from recbole_rd.utils import ConfigError

    monkeypatch.setattr("sys.argv", ["tune"])
    fake_trials(monkeypatch, diverging={0.5, 3.0})
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,3.0]\n")
    out = tmp_path / "result.txt"
    with pytest.raises(ConfigError, match=r"no trial finished \(2 failed\): CaserRD: the training loss became NaN"):
        tune("Caser", "tiny", str(space), algo="exhaustive", max_evals=2, output_file=str(out))
    assert out.read_text().count("failed : ") == 2  # what was tried is still written


def test_failed_trials_do_not_stop_the_search_early(tmp_path, monkeypatch):
    """RecBole's early stopping (10 trials without progress) counted failed trials: a search whose
    first ten points diverged ended before it reached the one that trains."""
    pytest.importorskip("hyperopt")
    monkeypatch.setattr("sys.argv", ["tune"])
    alphas = [0.1 * i for i in range(1, 26)]
    ran = fake_trials(monkeypatch, diverging=set(alphas) - {alphas[-1]})
    space = tmp_path / "space.hyper"
    space.write_text(f"alpha choice {alphas}\n")
    search = tune("Caser", "tiny", str(space), algo="exhaustive", max_evals=25, early_stop=10)
    assert len(ran) == 25 and len(search.failed) == 24
    assert search.best_params["alpha"] == alphas[-1]


def test_a_refused_combination_is_a_failed_trial(tmp_path, monkeypatch):
    pytest.importorskip("hyperopt")
    from recbole_rd.utils import ConfigError

    monkeypatch.setattr("sys.argv", ["tune"])
    refused = ConfigError("rrd_N: 600 is invalid; allowed: an integer <= dcd_N (500)")
    ran = fake_trials(monkeypatch, raising={3.0: refused})
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,3.0,2.0]\n")
    out = tmp_path / "result.txt"
    search = tune("Caser", "tiny", str(space), algo="exhaustive", max_evals=3, output_file=str(out))
    assert sorted(ran) == [0.5, 2.0, 3.0] and search.best_params["alpha"] == 2.0
    assert search.failed == {"alpha:3.0": str(refused)}
    assert "alpha:3.0\nValid result:\nfailed : rrd_N: 600 is invalid" in out.read_text()


def test_an_error_that_ends_the_search_keeps_the_finished_trials(tmp_path, monkeypatch):
    pytest.importorskip("hyperopt")
    from recbole_rd.quick_start import tune as tune_module

    monkeypatch.setattr("sys.argv", ["tune"])
    ran = []

    def run(model, dataset, files, config):  # the first trial finishes, the second is interrupted
        ran.append(config["alpha"])
        if len(ran) == 2:
            raise KeyboardInterrupt
        return {"best_valid_score": 0.25, "valid_score_bigger": True,
                "best_valid_result": {"ndcg@10": 0.25}, "test_result": {"ndcg@10": 0.5}}

    monkeypatch.setattr(tune_module, "run_recbole_rd", run)
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,3.0,2.0]\n")
    out = tmp_path / "result.txt"
    with pytest.raises(KeyboardInterrupt):
        tune("Caser", "tiny", str(space), algo="exhaustive", max_evals=3, output_file=str(out))
    assert len(ran) == 2
    assert out.read_text() == f"alpha:{ran[0]}\nValid result:\nndcg@10 : 0.25\nTest result:\nndcg@10 : 0.5\n\n"


def test_a_teacher_that_cannot_serve_is_refused_once_before_any_trial(tiny, tmp_path, monkeypatch):
    """Refused in every trial instead, it would fail the whole search one trial at a time."""
    pytest.importorskip("hyperopt")
    from recbole_rd.utils import RecBoleRDError

    monkeypatch.setattr("sys.argv", ["tune"])
    ran = fake_trials(monkeypatch)
    teacher = tmp_path / "teacher.pth"
    teacher.write_bytes(b"not a checkpoint")
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,2.0]\n")
    with pytest.raises(RecBoleRDError, match="teacher.pth is not a checkpoint"):
        tune("CaserRD", "tiny", str(space), config_dict=tiny_config_dict(tiny, teacher_checkpoint=str(teacher)),
             max_evals=2)
    assert ran == []


def test_a_searched_key_on_the_command_line_is_refused_before_training(tiny, tmp_path, monkeypatch):
    pytest.importorskip("hyperopt")
    from recbole_rd.utils import ConfigError

    monkeypatch.setattr("sys.argv", ["tune", "--model=CaserRD", "--alpha=3.0", "--epochs=1", "--K", "5"])
    space = tmp_path / "space.hyper"
    space.write_text("alpha choice [0.5,2.0]\nK choice [5]\n")
    with pytest.raises(ConfigError, match=r"^--alpha on the command line would override every trial's value of "
                                          r"alpha \(RecBole's command line wins\); drop it"):
        tune("CaserRD", "tiny", str(space), config_dict=tiny_config_dict(tiny, epochs=1), max_evals=2)
    assert not (tiny / "saved").exists()  # no teacher trained
