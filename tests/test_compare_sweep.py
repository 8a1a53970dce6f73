"""--compare --student_sizes: S and every method at each width, one teacher (and one top-N) per seed, the
paired tests at the same width, the table per size, the summary and the Pareto figure."""

import csv
import json

import pytest

from conftest import tiny_config_dict
from recbole_rd.compare import compare
from recbole_rd.compare.plan import checked_sizes
from recbole_rd.compare.report import markdown_page, read_results
from recbole_rd.compare.sweep import size_rows, smallest_within, sweep_summary
from recbole_rd.errors import ConfigError


def row(model, role, d, value, parameters=100, seconds=0.01):
    return {"model": model, "role": role, "d": d, "parameters": parameters, "map": value, "map_std": None,
            "ndcg@10": value, "ndcg@10_std": None, "top10_lists_s": seconds, "top10_lists_s_std": None}


HAND_TABLE = [row("Caser-T", "teacher", 100, 0.100, 1000),
              row("Caser-S@8", "student", 8, 0.080), row("Caser-RRD@8", "distilled", 8, 0.096),
              row("Caser-S@16", "student", 16, 0.095), row("Caser-RRD@16", "distilled", 16, 0.097),
              row("Caser-S@32", "student", 32, 0.099), row("Caser-RRD@32", "distilled", 32, 0.0985)]


def test_the_summary_names_the_smallest_size_close_to_t_and_the_matches_one_size_up():
    lines = sweep_summary(HAND_TABLE)
    assert lines[0] == "Size sweep on map (T: 0.1000; sizes 8, 16, 32):"
    # 2%: >= 0.098; 5%: >= 0.095
    assert lines[1] == "  S: within 2% of T from size 32, within 5% of T from size 16"
    assert lines[2] == "  RRD: within 2% of T from size 32, within 5% of T from size 8"
    assert lines[3:] == ["  RRD@8 matches S@16 (0.0960 vs 0.0950)"]  # RRD@16 0.097 < S@32 0.099


def test_smallest_within_takes_the_first_size_reaching_the_share():
    assert smallest_within([(4, 0.5), (8, 0.96), (16, 0.94)], 1.0, 0.05) == 8
    assert smallest_within([(4, 0.5)], 1.0, 0.05) is None


def test_the_size_table_has_one_row_per_size_and_method_then_t():
    rows = size_rows(HAND_TABLE)
    assert [(r["size"], r["method"]) for r in rows] == [(8, "S"), (16, "S"), (32, "S"), (8, "RRD"), (16, "RRD"),
                                                        (32, "RRD"), (100, "T")]
    assert rows[0]["map"] == "0.0800" and rows[-1]["parameters"] == "1,000" and rows[0]["top-10 ms"] == "10.00"


@pytest.mark.parametrize("given", ["8,x", "0,8", "8,8", [3, -1]])
def test_bad_sizes_are_refused(given):
    with pytest.raises(ConfigError, match="student_sizes: .* distinct positive integers"):
        checked_sizes(given)


def test_sizes_are_sorted():
    assert checked_sizes("32, 8,16") == [8, 16, 32]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from conftest import module_tiny

    printed = []
    with module_tiny(tmp_path_factory, "sweep") as tmp:
        table = compare("Caser", "tiny", config_dict=tiny_config_dict(tmp, epochs=1, K=5), student_sizes="4,8",
                        results_dir=tmp / "results", seeds=(1,), distill_methods="rd",
                        model_overrides={"Caser-RD@4": {"epochs": 2}}, progress=printed.append)
    return table, tmp, printed


def test_one_s_and_one_row_per_method_at_each_size_beside_one_teacher(sweep):
    table, tmp, _ = sweep
    assert [r["model"] for r in table] == ["Caser-T", "Caser-S@4", "Caser-RD@4", "Caser-S@8", "Caser-RD@8"]
    assert [r["d"] for r in table] == [100, 4, 4, 8, 8]
    assert table[1]["parameters"] < table[3]["parameters"] < table[0]["parameters"]
    assert [r["epochs_run"] for r in table] == [1, 1, 2, 1, 1]  # the per-row override of Caser-RD@4
    teachers = list((tmp / "saved").glob("Caser-tiny-teacher-*.pth"))
    assert len(teachers) == 1  # one, shared by every size
    caches = list((tmp / "saved").glob("*topk*"))
    assert len(caches) == 1  # one teacher top-N, read by every distilled row of every size


def test_each_distilled_row_is_tested_against_s_of_its_own_size(sweep):
    _, tmp, _ = sweep
    with open(tmp / "results" / "tiny-Caser-compare-significance.csv", newline="") as f:
        tests = list(csv.DictReader(f))
    pairs = {(t["model"], t["against"]) for t in tests}
    assert pairs == {("Caser-RD@4", "Caser-S@4"), ("Caser-RD@4", "Caser-T"),
                     ("Caser-RD@8", "Caser-S@8"), ("Caser-RD@8", "Caser-T")}


def test_the_answer_is_printed_and_the_page_and_figure_are_written(sweep):
    _, tmp, printed = sweep
    stem = tmp / "results" / "tiny-Caser-compare"
    console = "\n".join(printed)
    assert "Size sweep on map (T: " in console and "| 4 | RD |" in console
    assert (tmp / "results" / "tiny-Caser-compare-pareto.png").stat().st_size > 10_000
    page = markdown_page(read_results(stem))
    assert "### Size sweep" in page and "![Pareto front](tiny-Caser-compare-pareto.png)" in page
    assert page.startswith((tmp / "results" / "tiny-Caser-compare.md").read_text())  # the .md --compare wrote
    record = json.loads((tmp / "results" / "tiny-Caser-compare-provenance.json").read_text())
    assert record["rows"]["Caser-S@4"]["config_differences"]["embedding_size"] == 4
