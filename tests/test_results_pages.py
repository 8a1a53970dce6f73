"""docs/results/ holds the files ``--compare`` wrote (CSV, provenance, figures); each page beside them is
what the documented command makes of those files, and the README's figures are those files' numbers:

    python -m recbole_rd.compare.report docs/results/<stem> --markdown --output docs/results/<stem>.md
"""

import re
from pathlib import Path

import pytest

from recbole_rd.compare.report import main, markdown_page, read_results

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
STEMS = sorted(path.with_suffix("") for path in RESULTS.glob("*-compare.csv"))

pytestmark = pytest.mark.skipif(not STEMS, reason="docs/results/ is not installed beside the tests")


@pytest.mark.parametrize("stem", STEMS, ids=lambda stem: stem.name)
def test_each_results_page_is_what_the_report_command_makes_of_its_files(stem, tmp_path, capsys):
    page = stem.with_suffix(".md").read_text(encoding="utf-8")
    assert page == markdown_page(read_results(stem))
    main([str(stem), "--markdown", "--output", str(tmp_path / "page.md")])  # the documented command
    assert (tmp_path / "page.md").read_text(encoding="utf-8") == page


@pytest.mark.parametrize("stem", STEMS, ids=lambda stem: stem.name)
def test_each_results_page_is_linked_from_docs_results(stem):
    assert f"results/{stem.name}.md" in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")


def readme_tables():
    """``{row label: [cells]}`` of the README's tables whose first cell names a comparison's row."""
    rows = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| Caser-") or line.startswith("| SASRec-"):
            rows.setdefault(cells[0], []).append(cells)
    return rows


def short(value):
    """``0.0499`` as the README writes it: ``.0499``."""
    return f"{float(value):.4f}".lstrip("0")


def test_the_readme_quick_start_table_is_the_sample_run_kept_in_docs_results():
    saved = read_results(RESULTS / "foursquare-sample-Caser-compare")
    header = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                  if line.startswith("| model | d | parameters | P@3"))
    columns = [cell.strip() for cell in header.strip().strip("|").split("|")]
    metric = {"P@3": "precision@3", "P@10": "precision@10", "nDCG@3": "ndcg@3", "nDCG@10": "ndcg@10", "MAP": "map"}
    readme = {cells[0]: cells for cells in (rows[0] for rows in readme_tables().values()) if len(cells) == len(columns)}
    assert set(readme) == {row["model"] for row in saved.table}
    for row in saved.table:
        cells = dict(zip(columns, readme[row["model"]]))
        assert cells["d"] == row["d"] and cells["parameters"] == f"{int(row['parameters']):,}"
        for column, key in metric.items():
            assert cells[column] == short(row[key]), (row["model"], column)


def test_every_figure_of_the_readme_results_section_is_in_a_kept_csv():
    """The Results section's numbers (``.0607``, ``+2.1%``) each come from docs/results/ (or a ratio of two
    numbers there): none is typed by hand."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    values = set()
    for stem in STEMS:
        saved = read_results(stem)
        for row in saved.table:
            values |= {short(v) for k, v in row.items() if v and re.fullmatch(r"-?[0-9.e-]+", v) and "." in v}
        for test in saved.tests:
            values |= {short(test["mean"]), f"{float(test['p_value']):.2g}"}
    figures = re.findall(r"(?<![\w@.])\.\d{4}\b", section)
    assert figures and all(figure in values for figure in figures), [f for f in figures if f not in values]
