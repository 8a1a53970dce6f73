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
