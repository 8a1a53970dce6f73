"""What a comparison's results amount to: one summary row per model (mean and std over seeds, full
precision) and the paired t-tests over users of each distilled row against S and T."""

import statistics

from recbole_rd.compare.result import NOT_TRAINED


def _mean_std(values):
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _mean_or_none(values):
    return None if None in values else statistics.fmean(values)


def epochs_run_best(results):
    """``run/best`` epochs of each seed's :class:`RowResult` of a row; for a teacher given by its
    checkpoint (no epochs run here), :data:`NOT_TRAINED` and the best epoch the checkpoint records."""
    if results[0].epochs_run is None:
        best = results[0].best_epoch
        return NOT_TRAINED + ("" if best is None else f", best {best}")
    return ", ".join(f"{result.epochs_run}/{result.best_epoch}" for result in results)


def summarise(runs, rows):
    """One row per model (numbers, full precision) of ``runs`` (per seed, ``{row label: RowResult}``):
    size, what it was trained with, the mean and std over seeds of each test metric, and the top-10 time
    (also relative to the teacher's)."""
    teacher_seconds = statistics.fmean(run[rows[0].label].topk_seconds for run in runs)
    table = []
    for row in rows:
        results = [run[row.label] for run in runs]
        first = results[0]
        out = {"model": row.label, "d": first.d, "parameters": first.parameters, "role": row.role,
               "train_batch_size": first.batch_size, "learning_rate": first.trained_with.get("learning_rate"),
               "epochs": first.trained_with.get("epochs"),
               "epochs_run": _mean_or_none([result.epochs_run for result in results]),
               "best_epoch": _mean_or_none([result.best_epoch for result in results])}
        for metric in first.metrics:
            out[metric], out[f"{metric}_std"] = _mean_std([result.metrics[metric] for result in results])
        out["top10_lists_s"], out["top10_lists_s_std"] = _mean_std([result.topk_seconds for result in results])
        out["time_vs_teacher"] = out["top10_lists_s"] / teacher_seconds
        out["epochs_run_best"] = epochs_run_best(results)
        measured = {result.time_measured for result in results}
        out["time_measured"] = measured.pop() if len(measured) == 1 else "mixed"
        table.append(out)
    return table


def significance(runs, rows):
    """Paired t-tests over users (each user's metric averaged over seeds first) of every distilled
    row against S (of its width, in a size sweep) and against T, per metric; none without per-user values (no top-k metric)."""
    import torch
    from scipy.stats import ttest_rel

    if not all(result.per_user is not None for result in runs[0].values()):
        return []

    def per_user(label):
        return {m: torch.stack([run[label].per_user[m] for run in runs]).double().mean(0).numpy()
                for m in runs[0][label].per_user}

    teacher = rows[0]
    students = {row.size: row for row in rows if row.role == "student"}  # a size sweep: one S per width
    tests = []
    for row in (r for r in rows if r.role == "distilled"):
        ours = per_user(row.label)
        for other, short in ((students[row.size], "S"), (teacher, "T")):
            theirs = per_user(other.label)
            for metric, values in ours.items():
                same = bool((values == theirs[metric]).all())
                p = 1.0 if same else float(ttest_rel(values, theirs[metric]).pvalue)
                tests.append({"comparison": f"{row.label.split('-', 1)[1]} vs {short}", "model": row.label,
                              "against": other.label, "metric": metric, "mean": float(values.mean()),
                              "mean_against": float(theirs[metric].mean()),
                              "mean_difference": float((values - theirs[metric]).mean()), "p_value": p,
                              "users": len(values)})
    return tests
