import pytest

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
    assert search.best_params["alpha"] in (0.5, 2.0)
    teachers = list((tiny / "saved").glob("Caser-tiny-teacher-*.pth"))
    assert len(teachers) == 1  # trained once, shared by both trials
    assert "alpha:0.5" in out.read_text() and "alpha:2.0" in out.read_text()


def eval_params(text):
    return {k: float(v) for k, v in (item.split(":") for item in text.split(", "))}
