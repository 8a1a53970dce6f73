"""A comparison's results as text: the files under ``<stem>`` (of :mod:`recbole_rd.compare.summary`'s
table and paired t-tests) and the Markdown pages read back from them.

The ``.md`` pages are made from the files only (:func:`read_results`: ``.csv``, ``-significance.csv``,
``-provenance.json``), by ``--compare`` right after writing them and by the command line here, so the two
cannot drift::

    python -m recbole_rd.compare.report results/<dataset>-<model>-compare --markdown [--output FILE]

prints the page (:func:`markdown_page`): the ``<stem>.md`` ``--compare`` wrote (header with the command
line and versions, timing note, table), then the paired t-tests; ``--output`` writes it to a file instead
(atomically).
"""

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from recbole_rd.compare import plot as figure
from recbole_rd.compare import sweep
from recbole_rd.compare.provenance import header_line, write_provenance
from recbole_rd.compare.result import SIDE_BY_SIDE, TIMING_ROUNDS
from recbole_rd.errors import RecBoleRDError
from recbole_rd.utils import atomic_write


class ResultsError(RecBoleRDError, FileNotFoundError):
    """A comparison's results files are missing or unreadable."""


# ---- Markdown, from numbers or from the text of the CSV files alike ----

def format_table(rows, columns=None):
    """Markdown table of ``rows`` (``columns``: ``{header: function of a row}``; default: the keys)."""
    columns = columns or {key: (lambda r, k=key: r.get(k)) for key in rows[0]}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if f(r) is None else str(f(r)) for f in columns.values()) + " |" for r in rows]
    return "\n".join(lines)


def _value(row, key, decimals=4):
    std = row.get(f"{key}_std")
    return f"{float(row[key]):.{decimals}f}" + ("" if std is None else f" ± {float(std):.{decimals}f}")


def table_metrics(table):
    """The test metrics of a summary ``table``: the columns with a ``_std`` beside them, in order."""
    return [key for key in table[0] if f"{key}_std" in table[0] and key != "top10_lists_s"]


def display_columns(metrics):
    """Columns of the Markdown table: numbers rounded for reading (the CSV keeps them whole)."""
    columns = {
        "model": lambda r: r["model"], "d": lambda r: r["d"], "parameters": lambda r: f"{int(r['parameters']):,}",
        "batch": lambda r: r["train_batch_size"], "lr": lambda r: r["learning_rate"],
        "epochs run/best (max)": lambda r: r["epochs_run_best"] + ("" if r["epochs"] is None else f" ({r['epochs']})"),
    }
    columns.update({metric: (lambda r, m=metric: _value(r, m)) for metric in metrics})
    columns["top-10 lists, s"] = lambda r: _value(r, "top10_lists_s", 3) + timing_mark(r)
    columns["time vs T"] = lambda r: f"{float(r['time_vs_teacher']):.2f}"
    return columns


def timing_mark(row):
    """`` †`` after a top-10 time not (or not for every seed) measured side by side."""
    return "" if row.get("time_measured", SIDE_BY_SIDE) == SIDE_BY_SIDE else " †"


def timing_note(table):
    """The line saying how the top-10 times of ``table`` were measured."""
    note = (f"Top-10 times: measured side by side at the end of each seed's training, in this one process "
            f"(each row's best checkpoint, {TIMING_ROUNDS} interleaved rounds, best round kept)")
    if any(timing_mark(row) for row in table):
        note += "; † measured alone when the row was trained (its checkpoint is gone)"
    return note + "."


SIGNIFICANCE_COLUMNS = {
    "comparison": lambda t: t["comparison"], "metric": lambda t: t["metric"],
    "mean": lambda t: f"{float(t['mean']):.4f}", "against": lambda t: f"{float(t['mean_against']):.4f}",
    "difference": lambda t: f"{float(t['mean_difference']):+.5f}", "p_value": lambda t: f"{float(t['p_value']):.3g}",
    "users": lambda t: t["users"],
}


def title_of(record, table):
    """The title of a comparison's pages, from its provenance ``record`` and summary ``table``."""
    config = record["config"]
    base = next(row["model"] for row in table if row["role"] == "student").rpartition("-S")[0]
    title = f"{config['dataset']}: {base} T / S / distilled, {config['eval_protocol'] or 'recbole'} protocol"
    if config.get("teacher_checkpoint"):
        title += f", T given ({Path(config['teacher_checkpoint']).name})"
    return title


def header(title, record, stem):
    """The few lines above a Markdown table: what it is, how it was made, where the rest is."""
    return (f"## {title}\n\n{header_line(record)}  \n`{record['command_line']}`  \n"
            f"Full configuration and versions: `{Path(stem).name}-provenance.json`\n\n")


@dataclass
class SavedResults:
    """What ``--compare`` wrote under ``stem``, as text: the summary ``table`` and paired ``tests`` (rows
    of the CSV files, empty cells None) and the provenance ``record``."""
    stem: Path
    table: list
    tests: list
    record: dict


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: value if value != "" else None for key, value in row.items()} for row in csv.DictReader(f)]


def read_results(stem):
    """The :class:`SavedResults` under ``stem`` (no ``-significance.csv``: no tests)."""
    stem = Path(stem)
    try:
        table = _read_csv(f"{stem}.csv")
        tests = _read_csv(f"{stem}-significance.csv") if Path(f"{stem}-significance.csv").is_file() else []
        record = json.loads(Path(f"{stem}-provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ResultsError(f"{stem}: no results of a comparison to read ({err}); give the stem --compare "
                           f"wrote, e.g. results/foursquare-sample-Caser-compare") from None
    if not table:
        raise ResultsError(f"{stem}.csv holds no rows")
    return SavedResults(stem, table, tests, record)


def results_table(saved):
    """The Markdown table of :class:`SavedResults` (printed on the console by ``--compare``)."""
    return format_table(saved.table, display_columns(table_metrics(saved.table)))


def table_page(saved):
    """``<stem>.md``: header, timing note and table, then the size sweep (when the rows are one)."""
    page = (header(title_of(saved.record, saved.table), saved.record, saved.stem) + timing_note(saved.table)
            + "\n\n" + results_table(saved) + "\n")
    return page + (sweep_section(saved) if sweep.is_sweep(saved.table) else "")


def significance_page(saved):
    """``<stem>-significance.md``: header and the paired t-tests."""
    title = f"{title_of(saved.record, saved.table)}: paired t-tests over users"
    return header(title, saved.record, saved.stem) + format_table(saved.tests, SIGNIFICANCE_COLUMNS) + "\n"


def sweep_section(saved):
    """The size sweep's part of a page (:mod:`recbole_rd.compare.sweep`): its summary, the table per size
    and method, the Pareto figure."""
    return ("\n### Size sweep\n\n" + "\n".join(line.strip() if i == 0 else f"- {line.strip()}" for i, line
                                                in enumerate(sweep.sweep_summary(saved.table)))
            + "\n\n" + format_table(sweep.size_rows(saved.table))
            + f"\n\n![Pareto front]({Path(saved.stem).name}-pareto.png)\n")


def markdown_page(saved):
    """The whole page: :func:`table_page`, then the paired t-tests when there are any."""
    page = table_page(saved)
    if saved.tests:
        page += ("\n### Paired t-tests over users (each distilled row against S and T)\n\n"
                 + format_table(saved.tests, SIGNIFICANCE_COLUMNS) + "\n")
    return page


# ---- files ----

def write_text(path, text):
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_csv(rows, path):
    """CSV of ``rows`` (floats at full precision, missing values empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def write_results(stem, table, tests, record, n_test_users, metrics):
    """Write every results file of a comparison under ``stem``: the CSV files and the provenance, then the
    Markdown pages read back from them, and the figure (of the ``metrics``' headline); return (the
    Markdown table, the paths written)."""
    written = [write_provenance(record, f"{stem}-provenance.json")]
    write_csv(table, f"{stem}.csv")
    if tests:
        write_csv(tests, f"{stem}-significance.csv")
    else:  # an earlier run's: it would be read as this table's
        Path(f"{stem}-significance.csv").unlink(missing_ok=True)
    saved = read_results(stem)
    write_text(f"{stem}.md", table_page(saved))
    written += [f"{stem}.md", f"{stem}.csv"]
    if tests:
        write_text(f"{stem}-significance.md", significance_page(saved))
        written += [f"{stem}-significance.md", f"{stem}-significance.csv"]
    metric = "map" if "map" in metrics else next((m for m in metrics if m.startswith("ndcg")), metrics[0])
    points = [{**row, "top10_ms": row["top10_lists_s"] * 1000,
               "top10_ms_std": None if row["top10_lists_s_std"] is None else row["top10_lists_s_std"] * 1000}
              for row in table]
    seeds = len(record["seeds"])
    if sweep.is_sweep(table) and sweep.pareto_figure(table, f"{stem}-pareto.png", title_of(record, table)):
        written.append(f"{stem}-pareto.png")
    if figure.plot(points, f"{stem}.png", metric,
                   f"{title_of(record, table)} ({seeds} seed{'s' if seeds > 1 else ''})",
                   f"time for top-10 lists of all {n_test_users:,} test users, ms"):
        written.append(f"{stem}.png")
    for stale in {f"{stem}{end}" for end in ("-significance.md", "-significance.csv", ".png", "-pareto.png")} - set(written):
        Path(stale).unlink(missing_ok=True)  # an earlier run's: it would be read as this table's
    return results_table(saved), written


def stem_of(path):
    """The stem of ``path``: itself, or the stem of one of its files (``.csv``, ``.md``, ...)."""
    text = str(path)
    for end in ("-significance.csv", "-significance.md", "-provenance.json", "-pareto.png", ".csv", ".md", ".png"):
        if text.endswith(end):
            return Path(text[:-len(end)])
    return Path(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recbole_rd.compare.report",
                                     description="Print the page of a comparison from the files --compare wrote.")
    parser.add_argument("stem", help="results/<dataset>-<model>-compare (or one of its files)")
    parser.add_argument("--markdown", action="store_true", help="the Markdown page (the default, for now the only "
                                                                "format): table, then the paired t-tests")
    parser.add_argument("--output", metavar="FILE", help="write the page to FILE (atomically) instead of printing it")
    args = parser.parse_args(argv)
    from recbole_rd.quick_start.cli import command_errors

    with command_errors():
        page = markdown_page(read_results(stem_of(args.stem)))
        if args.output:
            write_text(args.output, page)
        else:
            sys.stdout.write(page)


if __name__ == "__main__":
    main()
