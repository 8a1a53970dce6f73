"""The comparison figure: accuracy against model size and against inference time, one point per row.

Points carry error bars over seeds (std); labels are placed where they overlap neither other
labels nor points (a greedy search over offsets around each point, measured with the renderer).
"""

import io

from recbole_rd.utils import atomic_write

ROLE_STYLE = {  # role of a row -> (marker, colour)
    "teacher": ("s", "#1f4e79"),
    "student": ("o", "#7f7f7f"),
    "distilled": ("^", "#c0392b"),
    "baseline": ("D", "#2e8b57"),
}
# label offsets (points) tried around a point, nearest first: (dx, dy, ha, va)
_NEAR = [(7, 4, "left", "bottom"), (7, -4, "left", "top"), (-7, 4, "right", "bottom"),
         (-7, -4, "right", "top"), (0, 9, "center", "bottom"), (0, -9, "center", "top")]
OFFSETS = _NEAR + [(dx * 2.2, dy * 4, ha, va) for dx, dy, ha, va in _NEAR] + \
    [(dx * 3.5, dy * 8, ha, va) for dx, dy, ha, va in _NEAR]


def thousands(value, _position=None):
    """Axis tick text with thousands separators (fewer digits for small values)."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def _overlap(a, b):
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(0.0, width) * max(0.0, height)


def _outside(box, frame):
    return box.width * box.height - _overlap(box, frame)


def place_labels(ax, xs, ys, labels, fontsize):
    """Annotate each point with its label at the first offset that collides with nothing
    already placed (nor with any point, nor the axes' border); the least colliding otherwise."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    taken = []
    for x, y in zip(xs, ys):
        px, py = ax.transData.transform((x, y))
        taken.append(Bbox([[px - 7, py - 7], [px + 7, py + 7]]))
    for x, y, label in zip(xs, ys, labels):
        best = None
        for dx, dy, ha, va in OFFSETS:
            note = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va,
                               fontsize=fontsize,  # a leader line says which point a label belongs to
                               arrowprops={"arrowstyle": "-", "color": "0.55", "lw": 0.6, "shrinkA": 1,
                                           "shrinkB": 5})
            note.update_positions(renderer)  # place the text at its offset (else measured at the origin)
            box = Text.get_window_extent(note, renderer).expanded(1.06, 1.15)  # the text, not its leader line
            cost = sum(_overlap(box, other) for other in taken) + 4 * _outside(box, frame)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, note, box)
            else:
                note.remove()
            if cost == 0:
                break
        taken.append(best[2])


def _errorbar(ax, x, y, xerr, yerr, role):
    marker, colour = ROLE_STYLE.get(role, ROLE_STYLE["baseline"])
    ax.errorbar(x, y, xerr=xerr or None, yerr=yerr or None, fmt=marker, color=colour, markersize=7,
                elinewidth=1.1, capsize=3, zorder=3)


def plot(rows, path, metric, title, x_time_label):
    """Write the two-panel figure of ``rows`` (``mean``/``std`` of ``metric``, ``parameters``,
    ``top10_lists_s``) to ``path`` as PNG; None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, MaxNLocator
    except ImportError:
        return None
    fontsize = 11
    with plt.rc_context({"font.size": fontsize, "axes.titlesize": fontsize + 1, "axes.labelsize": fontsize + 1}):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
        panels = ((axes[0], "parameters", None, "parameters"),
                  (axes[1], "top10_ms", "top10_ms_std", x_time_label))
        ys = [row[metric] for row in rows]
        for ax, key, err_key, xlabel in panels:
            xs = [row[key] for row in rows]
            for row, x, y in zip(rows, xs, ys):
                _errorbar(ax, x, y, row.get(err_key) if err_key else None, row.get(f"{metric}_std"), row["role"])
            if min(xs) > 0 and max(xs) / min(xs) > 30:
                ax.set_xscale("log")
            ax.margins(x=0.12, y=0.14)
            if ax.get_xscale() != "log":
                ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.xaxis.set_major_formatter(FuncFormatter(thousands))
            ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
            ax.yaxis.set_major_locator(MaxNLocator(6))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4f}"))
            ax.set_xlabel(xlabel)
            ax.grid(True, which="major", color="0.9", zorder=0)
        axes[0].set_ylabel(f"{metric.upper() if metric == 'map' else metric} (test, mean ± std over seeds)")
        handles = [axes[0].scatter([], [], marker=m, color=c, label=role) for role, (m, c) in ROLE_STYLE.items()
                   if any(row["role"] == role for row in rows)]
        # below the panels: a legend inside one could cover a point or its label
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=fontsize - 1)
        fig.suptitle(title, fontsize=fontsize + 2)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        for ax, key, _, _ in panels:
            place_labels(ax, [row[key] for row in rows], ys, [row["model"] for row in rows], fontsize - 1)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
        plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path
