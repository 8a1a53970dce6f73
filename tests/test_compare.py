"""--compare: fair rows (same budget, own batch size), full-precision results, provenance, significance, plot."""

import csv
import json
import statistics
from pathlib import Path

import pytest
import torch

from recbole_rd.compare import compare
from recbole_rd.compare import provenance as prov
from recbole_rd.compare.plan import Row, parse_distill_methods, row_overrides
from recbole_rd.utils import ConfigError
from conftest import tiny_config_dict

ARGV = ["run_recbole_rd.py", "--compare", "--model=Caser", "--dataset=tiny", "--distill_methods=rd,rd-position"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def two_methods(tmp_path_factory):
    """One compare on the tiny data: two seeds, RD and RD with position weights, a Pop baseline."""
    from conftest import module_tiny

    with module_tiny(tmp_path_factory, "compare") as tmp:
        rows = compare("Caser", "tiny", config_dict=tiny_config_dict(tmp, epochs=1, K=5), baselines=["Pop"],
                       results_dir=tmp / "results", seeds=(1, 2), distill_methods="rd,rd-position",
                       progress=lambda message: None, argv=ARGV)
    return rows, tmp / "results" / "tiny-Caser-compare"


def test_one_row_per_method_plus_teacher_student_and_baselines(two_methods):
    rows, _ = two_methods
    assert [r["model"] for r in rows] == ["Caser-T", "Caser-S", "Caser-RD", "Caser-RD-position", "Pop"]
    assert [r["role"] for r in rows] == ["teacher", "student", "distilled", "distilled", "baseline"]
    assert rows[0]["time_vs_teacher"] == 1.0 and rows[1]["parameters"] < rows[0]["parameters"]


def test_csv_keeps_full_precision_mean_and_std_of_the_seeds(two_methods):
    rows, stem = two_methods
    record = json.loads((stem.parent / f"{stem.name}-provenance.json").read_text())
    written = read_csv(f"{stem}.csv")
    assert list(written[0])[:3] == ["model", "d", "parameters"] and "map_std" in written[0]
    for row, line in zip(rows, written):
        per_seed = [seed["test_result"]["map"] for seed in record["rows"][row["model"]]["per_seed"]]
        assert len(per_seed) == 2
        assert float(line["map"]) == statistics.fmean(per_seed) == row["map"]
        assert float(line["map_std"]) == statistics.stdev(per_seed)
    decimals = [len(line[key].split(".")[1]) for line in written for key in ("map", "ndcg@10", "map_std")
                if "." in line[key]]
    assert max(decimals) > 4  # not rounded to 4 places
    md = stem.with_suffix(".md").read_text()
    assert f"{rows[2]['map']:.4f} ± {rows[2]['map_std']:.4f}" in md  # the .md rounds for reading


def test_provenance_records_command_line_versions_config_and_seeds(two_methods):
    _, stem = two_methods
    record = json.loads((stem.parent / f"{stem.name}-provenance.json").read_text())
    assert record["argv"] == ARGV and "--distill_methods=rd,rd-position" in record["command_line"]
    assert record["versions"]["recbole"] == "1.2.1" and record["versions"]["torch"] == torch.__version__
    assert record["versions"]["recbole-rd"]
    assert record["seeds"] == [1, 2] and record["config"]["model"] == "CaserRD"
    assert record["config"]["eval_protocol"] == "paper" and record["device"]["cpu"]
    differences = record["rows"]["Caser-RD-position"]["config_differences"]  # from the RD student's config
    assert differences["weighting"] == "position" and set(differences) <= {"weighting", "distill_method",
                                                                           "teacher_checkpoint"}
    assert differences["teacher_checkpoint"].startswith(str(stem.parents[1] / "saved" / "Caser-tiny-teacher"))
    header = stem.with_suffix(".md").read_text().split("| model |")[0]
    assert "recbole 1.2.1" in header and "--distill_methods=rd,rd-position" in header
    assert "seeds 1, 2" in header and "tiny-Caser-compare-provenance.json" in header


def test_significance_has_each_method_against_s_and_t_per_metric(two_methods):
    rows, stem = two_methods
    tests = read_csv(f"{stem}-significance.csv")
    metrics = ["precision@3", "precision@5", "precision@10", "ndcg@3", "ndcg@5", "ndcg@10", "map"]
    pairs = [(t["comparison"], t["metric"]) for t in tests]
    assert sorted(pairs) == sorted((f"{m} vs {o}", metric) for m in ("RD", "RD-position") for o in "ST"
                                   for metric in metrics)
    for t in tests:
        assert float(t["mean_difference"]) == pytest.approx(float(t["mean"]) - float(t["mean_against"]), abs=1e-12)
        assert 0 <= float(t["p_value"]) <= 1
    by_label = {r["model"]: r for r in rows}
    rd_vs_s = next(t for t in tests if t["comparison"] == "RD vs S" and t["metric"] == "map")
    assert float(rd_vs_s["mean"]) == pytest.approx(by_label["Caser-RD"]["map"], abs=1e-12)
    assert float(rd_vs_s["mean_against"]) == pytest.approx(by_label["Caser-S"]["map"], abs=1e-12)
    md = (stem.parent / f"{stem.name}-significance.md").read_text()
    assert md.count("| RD-position vs T |") == len(metrics)


def test_a_rerun_without_tests_or_plot_leaves_no_earlier_ones_beside_its_table(two_methods, tmp_path,
                                                                               monkeypatch):
    import shutil

    from recbole_rd.compare import report

    rows, stem = two_methods
    copy = tmp_path / stem.name
    for path in stem.parent.glob(f"{stem.name}*"):
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    assert {f"{copy}-significance.md", f"{copy}.png"} <= {str(p) for p in tmp_path.iterdir()}
    record = json.loads(Path(f"{copy}-provenance.json").read_text())
    monkeypatch.setattr(report.figure, "plot", lambda *args: False)  # e.g. no matplotlib
    _, written = report.write_results(copy, rows, [], record, 5, ["map"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(p).name for p in written)
    assert not Path(f"{copy}-significance.csv").exists() and not Path(f"{copy}.png").exists()


def test_plot_is_a_png_of_two_panels(two_methods):
    import matplotlib.image

    _, stem = two_methods
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(stem.with_suffix(".png")).shape
    assert width > 1.8 * height  # two panels side by side


def test_sasrec_baseline_gets_the_same_epoch_budget_and_its_own_batch_size(tiny, monkeypatch):
    import recbole_rd.compare.run as module

    steps = {}
    train_and_test = module.train_and_test

    def spy(config, train_data, *args, **kwargs):
        steps[config["model"]] = train_data.step
        return train_and_test(config, train_data, *args, **kwargs)

    monkeypatch.setattr(module, "train_and_test", spy)
    config_dict = tiny_config_dict(tiny, epochs=2, stopping_step=10, K=5, **{"SASRec.train_batch_size": 32,
                                                                              "Caser-S.epochs": 1})
    rows = compare("Caser", "tiny", config_dict=config_dict, baselines=["SASRec"], results_dir=tiny / "results",
                   seeds=(3,), progress=lambda message: None, argv=["x"])
    by_label = {r["model"]: r for r in rows}
    assert by_label["SASRec"]["epochs"] == 2 and by_label["SASRec"]["epochs_run"] == 2  # not RecBole's 300
    assert by_label["Caser-T"]["epochs_run"] == by_label["Caser-RD"]["epochs_run"] == 2
    assert by_label["Caser-S"]["epochs"] == by_label["Caser-S"]["epochs_run"] == 1  # overridden for S only
    assert by_label["SASRec"]["train_batch_size"] == 32 and by_label["Caser-RD"]["train_batch_size"] == 64
    assert steps == {"Caser": 64, "CaserRD": 64, "SASRec": 32}  # its own loader, with its own batch size
    record = json.loads((tiny / "results" / "tiny-Caser-compare-provenance.json").read_text())
    used = {label: row["per_seed"][0]["trained_with"] for label, row in record["rows"].items()}
    assert {u["MAX_ITEM_LIST_LENGTH"] for u in used.values()} == {5}  # one window for every row
    assert len({u["valid_metric"] for u in used.values()}) == 1 and {u["seed"] for u in used.values()} == {3}
    assert {u["epochs"] for label, u in used.items() if label != "Caser-S"} == {2}
    assert [label for label, u in used.items() if "distill_method" in u or "weighting" in u] == ["Caser-RD"]
    assert "| SASRec | " in (tiny / "results" / "tiny-Caser-compare.md").read_text()


def test_unknown_method_is_refused_before_any_training(tiny):
    with pytest.raises(ConfigError, match=r"distill_methods: 'xyz'.*allowed: cd, dcd, .*rd, rrd, .*rd-position"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny), distill_methods="rd,xyz",
                results_dir=tiny / "results", progress=lambda message: None)
    assert not (tiny / "saved").exists() and not (tiny / "results").exists()


@pytest.mark.parametrize("seeds, message", [((2020, 2021, 2021), "seeds: 2021 given more than once; give each"),
                                            (iter([5, 6, 5]), "seeds: 5 given more than once; give each"),
                                            ((), "seeds: none given; give each seed once"),
                                            ("2013", r"seeds: \['2013'\] is invalid; allowed: integers"),
                                            ([2020, 2021.0], r"seeds: \[2020, 2021.0\] is invalid")])
def test_repeated_or_no_seeds_are_refused_before_any_training(tiny, seeds, message):
    with pytest.raises(ConfigError, match=f"^{message}"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny), seeds=seeds, results_dir=tiny / "results",
                progress=lambda message: None)
    assert not (tiny / "saved").exists() and not (tiny / "results").exists()


def test_a_best_epoch_nobody_knows_is_no_epoch_in_the_summary():
    from recbole_rd.compare.result import RowResult
    from recbole_rd.compare.summary import summarise

    def result(best_epoch):
        return RowResult(d=100, parameters=10, batch_size=512, trained_with={}, epochs_run=None,
                         best_epoch=best_epoch, metrics={"map": 0.1}, topk_seconds=1.0)

    rows = [Row("Caser-T", "teacher", None, "t")]
    assert summarise([{"Caser-T": result(None)}, {"Caser-T": result(4)}], rows)[0]["best_epoch"] is None
    assert summarise([{"Caser-T": result(2)}, {"Caser-T": result(4)}], rows)[0]["best_epoch"] == 3


def test_a_baseline_of_the_teachers_architecture_is_its_own_row(tiny):
    """``--teacher_model=SASRec --baselines=SASRec``: the teacher is SASRec at the teacher's size, the
    baseline RecBole's SASRec at its own; both are asked for, so both are rows."""
    from recbole_rd.config import Config
    from recbole_rd.compare.plan import plan_rows, row_config

    config = Config(model="CaserRD", dataset="tiny", config_dict=tiny_config_dict(tiny, teacher_model="SASRec"))
    rows = plan_rows(config, "Caser", parse_distill_methods("rd"), ["Pop", "SASRec"])
    assert [row.label for row in rows] == ["SASRec-T", "Caser-S", "Caser-RD", "Pop", "SASRec"]
    teacher, baseline = row_config(rows[0], config, {}), row_config(rows[-1], config, {})
    assert teacher["model"] == baseline["model"] == "SASRec"
    assert (teacher["hidden_size"], baseline["hidden_size"]) == (config["teacher_embedding_size"], 64)


@pytest.mark.parametrize("override", [{"CaserRD.cd_sampling": "teacher"}, {"Caser-CD-student.distill_method": "rd"}])
def test_an_override_contradicting_a_row_name_is_refused_before_training(tiny, override):
    with pytest.raises(ConfigError, match=r"for row Caser-CD-student contradicts its name \((cd_sampling: student|"
                                          r"distill_method: cd)\); drop that override"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, **override), distill_methods="cd,cd-student",
                results_dir=tiny / "results", progress=lambda message: None)
    assert not list(tiny.rglob("*.pth")) and not (tiny / "results").exists()  # nothing trained


@pytest.mark.parametrize("methods, config, same", [("rd,rd-hybrid", {}, "Caser-RD and Caser-RD-hybrid"),
                                                  ("cd-student,cd", {"cd_sampling": "student"},
                                                   "Caser-CD-student and Caser-CD")])
def test_two_rows_that_are_one_run_are_refused_before_training(tiny, methods, config, same):
    with pytest.raises(ConfigError, match=f"^rows {same} are one run \\(every setting equal\\); drop one"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, **config), distill_methods=methods,
                results_dir=tiny / "results", progress=lambda message: None)
    assert not list(tiny.rglob("*.pth")) and not (tiny / "results").exists()  # nothing trained


def test_method_names_become_rows_with_their_config():
    assert parse_distill_methods("rd, rd-position,rd") == [
        ("RD", "rd", {"distill_method": "rd"}),
        ("RD-position", "rd-position", {"distill_method": "rd", "weighting": "position"})]
    assert parse_distill_methods("cd-student,CD") == [
        ("CD-student", "cd-student", {"distill_method": "cd", "cd_sampling": "student"}),
        ("CD", "cd", {"distill_method": "cd"})]
    with pytest.raises(ConfigError, match=r"'rrd-student' given; allowed: .*cd-student.*rd-position"):
        parse_distill_methods("rrd-student")
    with pytest.raises(ConfigError, match="distill_methods: nothing given"):
        parse_distill_methods(" , ")


@pytest.mark.parametrize("overrides, message", [
    ({"SASRc.epochs": 3}, "'SASRc' names no row of this comparison; rows: Caser-T, Caser-S, Caser-RD"),
    ({"Caser-S.MAX_ITEM_LIST_LENGTH": 3}, "MAX_ITEM_LIST_LENGTH cannot differ per row"),
    ({"model_overrides": {"Caser-T": 5}}, "model_overrides: .* is invalid"),
    ({"Caser-RD.alpha": -1}, "alpha: -1 is invalid"),  # a distilled row's own keys, checked before the teacher
])
def test_bad_per_row_override_is_refused_before_training(tiny, overrides, message):
    with pytest.raises(ConfigError, match=message):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, **overrides), results_dir=tiny / "results",
                progress=lambda message: None)
    assert not list((tiny / "saved").glob("*.pth"))


class FakeConfig(dict):
    external_config_dict = property(lambda self: self)


FAKE_ROWS = [Row("Caser-T", "teacher", "Caser", "teacher"), Row("Caser-S", "student", "Caser", "student"),
             Row("Caser-RD", "distilled", "CaserRD", "rd")]


@pytest.mark.parametrize("keys, warned", [
    ({"Caser.learning_rate": 0.002}, True),  # T and S only: S no longer trains like RD
    ({"Caser.learning_rate": 0.002, "CaserRD.learning_rate": 0.002}, False),
    ({"Caser-S.epochs": 1}, False),  # one row by its label: deliberate
    ({"Caser-T.learning_rate": 0.01}, False),
])
def test_a_model_name_override_reaching_s_but_not_the_distilled_rows_is_warned(caplog, keys, warned):
    per_row = row_overrides(FakeConfig({"model_overrides": None, **keys}), FAKE_ROWS)
    if "Caser.learning_rate" in keys:
        assert per_row["Caser-T"] == per_row["Caser-S"] == {"learning_rate": 0.002}
    assert ("but not for the distilled rows (model CaserRD)" in caplog.text) is warned


def test_a_model_name_override_says_which_rows_it_reaches(caplog):
    """RecBole's Caser baseline is also model ``Caser``: the log names every row a name reaches."""
    caplog.set_level("INFO")
    rows = [*FAKE_ROWS, Row("recbole.Caser", "baseline", "recbole.Caser", "recbole.Caser")]
    per_row = row_overrides(FakeConfig({"model_overrides": None, "Caser.dropout_prob": 0.2,
                                        "Caser-S.epochs": 3}), rows)
    assert per_row["recbole.Caser"] == {"dropout_prob": 0.2} and per_row["Caser-RD"] == {}
    assert "--Caser.<key> (dropout_prob) applies to rows Caser-T, Caser-S, recbole.Caser" in caplog.text
    assert "--Caser-S.<key>" not in caplog.text  # a row label reaches that row only: nothing to say


def test_git_state_outside_a_repository_is_none(tmp_path):
    assert prov.git_state([tmp_path]) is None


def test_plain_data_turns_devices_and_enums_into_text():
    from recbole.utils import ModelType

    assert prov.plain_data({"d": torch.device("cpu"), "t": ModelType.SEQUENTIAL, "l": (1, [2.5, None])}) == {
        "d": "cpu", "t": "SEQUENTIAL", "l": [1, [2.5, None]]}
    version = prov.plain_data(torch.__version__)
    assert type(version) is str and version == str(torch.__version__)  # TorchVersion: a str subclass
    kept = prov.plain_data({"m": (torch.arange(3.0, requires_grad=True) * 2,)}, keep_tensors=True)
    assert torch.equal(kept["m"][0], torch.tensor([0.0, 2.0, 4.0])) and not kept["m"][0].requires_grad
    assert prov.plain_data(torch.tensor([1.5])) == "tensor([1.5000])"


def test_labels_of_nearby_points_do_not_overlap():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from recbole_rd.compare.plot import _overlap, place_labels

    fig, ax = plt.subplots(figsize=(5, 4))
    xs, ys = [10, 10.5, 11, 30, 10.2], [0.50, 0.51, 0.49, 0.2, 0.52]
    ax.scatter(xs, ys)
    ax.set_xlim(0, 40), ax.set_ylim(0, 1)
    place_labels(ax, xs, ys, ["Caser-T", "Caser-S", "Caser-RD", "Pop", "Caser-RD-position"], 10)
    fig.canvas.draw()  # the texts where they are drawn
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(text, renderer) for text in ax.texts]  # the texts, without leader lines
    frame = ax.get_window_extent(renderer)
    assert len(boxes) == 5
    assert all(_overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert all(frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
               for box in boxes)  # inside the axes
    plt.close(fig)


def test_a_rankings_file_teacher_is_refused_by_compare_before_training(tiny):
    (tiny / "ranks.csv").write_text("user_id,item_id,rank\n1,2,1\n")
    with pytest.raises(ConfigError, match="teacher_rankings: --compare needs a teacher it can test as its T row"):
        compare("Caser", "tiny", config_dict=tiny_config_dict(tiny, teacher_rankings=str(tiny / "ranks.csv")),
                results_dir=tiny / "results", progress=lambda message: None)
    assert not (tiny / "results").exists() and not list(tiny.rglob("*.pth"))
