"""The answer of a size sweep (``--compare --student_sizes=8,16,32,50``): how small the student can be, and
how much each method moves that point. Read from a comparison's summary table (numbers, or the text of its
CSV file: the page is rebuilt from the files), whose rows ``<base>-<method>@<size>`` are the sweep's.

* :func:`size_rows`: per size and method, parameters, the headline metrics and the top-10 time;
* :func:`sweep_summary`: per method the smallest size within 2% and 5% of T on the headline metric, and
  where a distilled student matches S of the next size up;
* :func:`pareto_figure`: the headline metrics against parameters and against top-10 time, one line per
  method (S its own), T a point, error bars over seeds.
"""

import io
from collections import defaultdict

from recbole_rd.utils import atomic_write

WITHIN = (0.02, 0.05)  # how close to T counts as "keeps the teacher's accuracy"
SWEEP_METRICS = ("map", "ndcg@10", "precision@3")


def _number(value):
    return None if value is None else float(value)


def sweep_points(table):
    """``{method: [(size, row), ...]}`` sorted by size, S first, of the sized rows of ``table``
    (``Caser-RRD@16``: method ``RRD``, size 16)."""
    by_method = defaultdict(list)
    for row in table:
        label, at, size = row["model"].rpartition("@")
        if at and row["role"] in ("student", "distilled"):
            by_method[label.split("-", 1)[1]].append((int(size), row))
    order = sorted(by_method, key=lambda method: (method != "S", method))
    return {method: sorted(by_method[method], key=lambda point: point[0]) for method in order}


def is_sweep(table):
    return bool(sweep_points(table))


def teacher_row(table):
    return next(row for row in table if row["role"] == "teacher")


def headline(table):
    """The metric the sweep is judged on: MAP where measured, else nDCG@10, else the first metric."""
    return next((m for m in ("map", "ndcg@10") if m in table[0]), next(k for k in table[0] if f"{k}_std" in table[0]))


def _mean_std(row, key, scale=1.0, decimals=4):
    mean, std = _number(row.get(key)), _number(row.get(f"{key}_std"))
    if mean is None:
        return ""
    return f"{mean * scale:.{decimals}f}" + ("" if std is None else f" ± {std * scale:.{decimals}f}")


def size_rows(table):
    """One row per size and method (Markdown-ready text): parameters, the sweep's metrics (mean ± std over
    seeds), top-10 time in ms."""
    metrics = [m for m in SWEEP_METRICS if m in table[0]]
    out = []
    for method, points in sweep_points(table).items():
        for size, row in points:
            out.append({"size": size, "method": method, "parameters": f"{int(float(row['parameters'])):,}",
                        **{m: _mean_std(row, m) for m in metrics},
                        "top-10 ms": _mean_std(row, "top10_lists_s", 1000, 2)})
    teacher = teacher_row(table)
    out.append({"size": teacher["d"], "method": "T", "parameters": f"{int(float(teacher['parameters'])):,}",
                **{m: _mean_std(teacher, m) for m in metrics}, "top-10 ms": _mean_std(teacher, "top10_lists_s", 1000, 2)})
    return out


def smallest_within(points, target, share):
    """The smallest size of ``points`` (``[(size, value)]``) whose value is at least ``(1 - share) x target``."""
    return next((size for size, value in points if value >= (1 - share) * target), None)


def sweep_summary(table):
    """Lines answering the sweep: per method, the smallest size within each of :data:`WITHIN` of T on the
    headline metric; then each distilled size that matches (or beats) S of the next size up."""
    metric = headline(table)
    target = float(teacher_row(table)[metric])
    points = {method: [(size, float(row[metric])) for size, row in rows] for method, rows in sweep_points(table).items()}
    lines = [f"Size sweep on {metric} (T: {target:.4f}; sizes {', '.join(map(str, [s for s, _ in points['S']]))}):"]
    for method, values in points.items():
        found = [(share, smallest_within(values, target, share)) for share in WITHIN]
        said = ", ".join(f"within {share:.0%} of T from size {size}" if size is not None else
                         f"never within {share:.0%} of T" for share, size in found)
        lines.append(f"  {method}: {said}")
    student = dict(points["S"])
    sizes = sorted(student)
    for method, values in points.items():
        if method == "S":
            continue
        for size, value in values:
            bigger = next((s for s in sizes if s > size), None)
            if bigger is not None and value >= student[bigger]:
                lines.append(f"  {method}@{size} matches S@{bigger} ({value:.4f} vs {student[bigger]:.4f})")
    return lines


STYLE = {"S": ("o", "#555555"), "T": ("*", "#c0392b")}
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")


def pareto_figure(table, path, title):
    """Write the sweep's figure to ``path`` (PNG): rows the headline metrics (MAP, nDCG@10), columns
    parameters and top-10 time (ms); None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metrics = [m for m in ("map", "ndcg@10") if m in table[0]] or [headline(table)]
    teacher = teacher_row(table)
    fig, axes = plt.subplots(len(metrics), 2, figsize=(12, 4.2 * len(metrics)), squeeze=False)
    for r, metric in enumerate(metrics):
        for c, (key, scale, xlabel) in enumerate((("parameters", 1, "parameters"),
                                                  ("top10_lists_s", 1000, "top-10 lists of all test users, ms"))):
            ax = axes[r][c]
            for i, (method, points) in enumerate(sweep_points(table).items()):
                marker, colour = STYLE.get(method, ("s", PALETTE[i % len(PALETTE)]))
                xs = [float(row[key]) * scale for _, row in points]
                ys = [float(row[metric]) for _, row in points]
                errors = [_number(row.get(f"{metric}_std")) or 0 for _, row in points]
                ax.errorbar(xs, ys, yerr=errors, marker=marker, color=colour, capsize=3, label=method)
                for (size, _), x, y in zip(points, xs, ys):
                    ax.annotate(str(size), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8, color=colour)
            ax.errorbar([float(teacher[key]) * scale], [float(teacher[metric])],
                        yerr=[_number(teacher.get(f"{metric}_std")) or 0], marker="*", markersize=12,
                        color=STYLE["T"][1], capsize=3, linestyle="none", label="T")
            ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(f"{metric} (test, mean ± std over seeds)")
            ax.grid(True, color="0.9")
    axes[0][0].legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=130)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path
