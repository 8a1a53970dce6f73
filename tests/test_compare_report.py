"""The page of a comparison is made from its files: ``python -m recbole_rd.compare.report <stem> --markdown``
prints the ``<stem>.md`` --compare wrote, then the paired t-tests, and both come from the ``.csv``,
``-significance.csv`` and ``-provenance.json`` files (so a changed file changes the page)."""

import csv
import json
import shutil
import subprocess
import sys

import pytest

from recbole_rd.compare.report import main

METRICS = ["precision@3", "precision@5", "precision@10", "ndcg@3", "ndcg@5", "ndcg@10", "map"]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def written(tiny_compare):
    """A tiny compare (one seed, T / S / RD / Pop, one epoch, run as conftest's ``COMPARE_ARGV``):
    (results stem, console messages)."""
    *_, messages, _, results = tiny_compare
    return results / "tiny-Caser-compare", messages


def page_of(stem, capsys, *flags):
    main([str(stem), "--markdown", *flags])
    return capsys.readouterr().out


def table_cells(page, first_header):
    """``{first cell: {header: cell}}`` of the Markdown table of ``page`` whose first header is ``first_header``."""
    lines = page[page.index(f"| {first_header} |"):].split("\n\n")[0].splitlines()
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return [dict(zip(headers, row)) for row in cells]


def test_the_page_is_the_written_md_then_the_paired_tests(written, capsys):
    stem, messages = written
    page = page_of(stem, capsys)
    md = stem.with_suffix(".md").read_text()
    assert page.startswith(md) and md.startswith("## tiny: Caser T / S / distilled, paper protocol\n")
    tests = (stem.parent / f"{stem.name}-significance.md").read_text()
    tests_table = tests[tests.index("| comparison |"):]
    assert page == md + "\n### Paired t-tests over users (each distilled row against S and T)\n\n" + tests_table
    console_table = next(m for m in messages if m.startswith("| model |"))
    assert console_table + "\n" in md  # the console's table is the page's


def test_the_command_runs_as_a_module_and_names_a_stem_by_any_of_its_files(written, capsys):
    stem, _ = written
    done = subprocess.run([sys.executable, "-m", "recbole_rd.compare.report", f"{stem}.csv", "--markdown"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == page_of(stem, capsys)


def test_the_numbers_on_the_page_are_the_csv_files(written, capsys):
    stem, _ = written
    page = page_of(stem, capsys)
    rows = read_csv(f"{stem}.csv")
    shown = table_cells(page, "model")
    assert [row["model"] for row in shown] == [row["model"] for row in rows] == ["Caser-T", "Caser-S", "Caser-RD",
                                                                                 "Pop"]
    for row, cells in zip(rows, shown):
        assert {m: cells[m] for m in METRICS} == {m: f"{float(row[m]):.4f}" for m in METRICS}  # one seed: no std
        assert cells["parameters"] == f"{int(row['parameters']):,}" and cells["d"] == row["d"]
        assert cells["top-10 lists, s"] == f"{float(row['top10_lists_s']):.3f}"
        assert cells["time vs T"] == f"{float(row['time_vs_teacher']):.2f}"
        assert cells["epochs run/best (max)"] == f"{row['epochs_run_best']} ({row['epochs']})"
    tests = read_csv(f"{stem}-significance.csv")
    shown = table_cells(page, "comparison")
    assert len(shown) == len(tests) == 2 * len(METRICS)
    for test, cells in zip(tests, shown):
        assert (cells["comparison"], cells["metric"], cells["users"]) == (test["comparison"], test["metric"],
                                                                           test["users"])
        assert (cells["mean"], cells["against"], cells["difference"], cells["p_value"]) == (
            f"{float(test['mean']):.4f}", f"{float(test['mean_against']):.4f}",
            f"{float(test['mean_difference']):+.5f}", f"{float(test['p_value']):.3g}")
    record = json.loads((stem.parent / f"{stem.name}-provenance.json").read_text())
    assert f"`{record['command_line']}`" in page and "--baselines=Pop" in record["command_line"]


def copy_of(stem, folder):
    for path in stem.parent.glob(f"{stem.name}*"):
        if path.is_file():
            shutil.copy(path, folder / path.name)
    return folder / stem.name


def rewrite_csv(path, change):
    rows = read_csv(path)
    change(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_changed_file_changes_the_page(written, capsys, tmp_path):
    stem, _ = written
    before = page_of(stem, capsys)
    copy = copy_of(stem, tmp_path)
    assert page_of(copy, capsys) == before
    rewrite_csv(f"{copy}.csv", lambda rows: rows[2].update(map="0.123456789", map_std="0.01"))
    rewrite_csv(f"{copy}-significance.csv", lambda rows: rows[-1].update(p_value="0.000123"))
    record = json.loads((tmp_path / f"{copy.name}-provenance.json").read_text())
    given, record["command_line"] = record["command_line"], "python run_recbole_rd.py --compare --edited"
    (tmp_path / f"{copy.name}-provenance.json").write_text(json.dumps(record))
    after = page_of(copy, capsys)
    assert table_cells(after, "model")[2]["map"] == "0.1235 ± 0.0100"
    assert table_cells(after, "comparison")[-1]["p_value"] == "0.000123"
    assert "`python run_recbole_rd.py --compare --edited`" in after and given not in after
    changed = [(b, a) for b, a in zip(before.splitlines(), after.splitlines()) if b != a]
    assert len(changed) == 3  # the command line, the RD row, the last test


def test_output_writes_the_page_to_a_file(written, capsys, tmp_path):
    stem, _ = written
    page = page_of(stem, capsys)
    assert page_of(stem, capsys, "--output", str(tmp_path / "page.md")) == ""
    assert (tmp_path / "page.md").read_text() == page


def test_without_tests_the_page_is_the_md_alone(written, capsys, tmp_path):
    stem, _ = written
    copy = copy_of(stem, tmp_path)
    (tmp_path / f"{copy.name}-significance.csv").unlink()
    assert page_of(copy, capsys) == stem.with_suffix(".md").read_text()


def test_a_stem_without_results_is_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "nothing-compare"), "--markdown"])
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {tmp_path / 'nothing-compare'}: no results of a comparison to read")
