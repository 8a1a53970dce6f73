"""What a comparison concludes, printed under its table: each distilled row against S and T (the paired
t-tests over users that ``-significance.md`` holds) with a plain verdict, and warnings when the training
budget was clearly too small for the table to mean much.

A verdict against S (or T), on the headline metrics (MAP and nDCG@10, where measured):

* ``beats S``: better with p < :data:`ALPHA` on one of them and not significantly worse on the other;
* ``worse than S``: significantly worse on one of them (and not beating S by the rule above);
* ``level with S``: neither.
"""

ALPHA = 0.05
HEADLINE = ("map", "ndcg@10")


def headline_metrics(metrics, valid_metric=None):
    """The metrics a verdict rests on: MAP and nDCG@10 where ``metrics`` has them; else the valid metric
    (``valid_metric``, any case), else the first of ``metrics``."""
    chosen = [m for m in HEADLINE if m in metrics]
    if chosen:
        return chosen
    valid = str(valid_metric or "").lower()
    return [valid] if valid in metrics else list(metrics)[:1]


def verdict(outcomes, against="S", alpha=ALPHA):
    """``beats``/``worse than``/``level with`` ``against`` from ``outcomes``: ``[(mean difference,
    p-value)]``, one per headline metric (a positive difference: better; every metric here is
    better when bigger)."""
    better = any(difference > 0 and p < alpha for difference, p in outcomes)
    worse = any(difference < 0 and p < alpha for difference, p in outcomes)
    if better and not worse:
        return f"beats {against}"
    return f"worse than {against}" if worse else f"level with {against}"


def p_text(p):
    return "p<0.001" if p < 0.001 else f"p={p:.2g}"


def verdict_lines(tests, metrics):
    """One line per distilled row of ``tests`` (:func:`recbole_rd.compare.summary.significance`):
    its verdict against S and T, then each of ``metrics`` (:func:`headline_metrics`): its mean, and S's
    and T's with the difference and p-value, e.g.
    ``Caser-RD: beats S, worse than T | map 0.0512 vs S 0.0487 (+0.0025, p=0.013), vs T 0.0601 (-0.0089,
    p<0.001) | ndcg@10 ...``."""
    found = {(t["model"], t["comparison"].rsplit(" vs ", 1)[1], t["metric"]): t for t in tests}
    lines = []
    for model in dict.fromkeys(t["model"] for t in tests):
        verdicts, parts = [], []
        for against in ("S", "T"):
            outcomes = [(found[model, against, m]["mean_difference"], found[model, against, m]["p_value"])
                        for m in metrics if (model, against, m) in found]
            verdicts.append(verdict(outcomes, against))
        for metric in metrics:
            pair = [found.get((model, against, metric)) for against in ("S", "T")]
            if None in pair:
                continue
            versus = ", ".join(f"vs {against} {t['mean_against']:.4f} ({t['mean_difference']:+.4f}, "
                               f"{p_text(t['p_value'])})" for against, t in zip("ST", pair))
            parts.append(f"{metric} {pair[0]['mean']:.4f} {versus}")
        lines.append(" | ".join([f"{model}: {', '.join(verdicts)}", *parts]))
    return lines


def verdict_report(tests, metrics, valid_metric=None, seeds=1):
    """The lines printed under a comparison's table: a heading, then :func:`verdict_lines` on the
    :func:`headline_metrics` of ``metrics``; without paired tests (no per-user values: no top-k
    metric was asked for) one line saying so."""
    if not tests:
        return ["Verdict: no paired tests (no top-k metric gives per-user values; add one to metrics, such as NDCG)"]
    chosen = headline_metrics(metrics, valid_metric)
    over = f"{tests[0]['users']:,} test users"
    averaged = f", each user's value averaged over the {seeds} seeds" if seeds > 1 else ""
    return [f"Verdict (paired t-tests over {over}{averaged}; significant: p < {ALPHA}):",
            *verdict_lines(tests, chosen)]


def last_validated_epoch(epochs_run, eval_step):
    """The last 0-based epoch validated in ``epochs_run`` epochs every ``eval_step`` epochs (None when
    none was)."""
    last = epochs_run // eval_step * eval_step - 1
    return last if last >= 0 else None


def still_improving(result):
    """Whether a row's seed ``result`` (a :class:`RowResult`) ran its whole epoch budget and its best
    epoch is the last one validated: it stopped while still improving. A row given by its checkpoint (no epochs run here)
    or with a fixed single pass (RecBole's memory-based models, e.g. Pop) is never."""
    trained = result.trained_with or {}
    epochs_run, best, budget = result.epochs_run, result.best_epoch, trained.get("epochs")
    eval_step = 1 if trained.get("eval_step") is None else trained["eval_step"]
    if epochs_run is None or best is None or budget is None or eval_step <= 0 or epochs_run < budget:
        return False
    return best == last_validated_epoch(epochs_run, eval_step)


def budget_warnings(table, per_seed, metric, one_pass=()):
    """Warnings (lines) that the budget was clearly too small: a baseline beats the teacher on ``metric``
    (means of ``table``, :func:`recbole_rd.compare.summary.summarise`), or a row's best epoch is
    its last (``per_seed``: ``[(seed, {row label: RowResult})]``): it was still improving. Rows labelled in
    ``one_pass`` (memory-based models such as Pop: one pass, whatever the budget) are never."""
    lines = []
    teacher = next(row for row in table if row["role"] == "teacher")
    given = teacher["epochs_run"] is None
    for row in table:
        if row["role"] == "baseline" and metric in row and row[metric] > teacher[metric]:
            fix = ("the given teacher checkpoint is probably undertrained; train it longer" if given else
                   f"the teacher is probably undertrained; raise --epochs (or --{teacher['model']}.epochs)")
            lines.append(f"warning: baseline {row['model']} beats the teacher {teacher['model']} on {metric} "
                         f"({row[metric]:.4f} vs {teacher[metric]:.4f}): {fix}")
    for row in (r for r in table if r["model"] not in one_pass):
        seeds = [(seed, results[row["model"]]) for seed, results in per_seed if row["model"] in results]
        improving = [(seed, result) for seed, result in seeds if still_improving(result)]
        if improving:
            which = ", ".join(f"seed {seed}: run/best {result.epochs_run}/{result.best_epoch}"
                              for seed, result in improving)
            lines.append(f"warning: {row['model']}'s best epoch is its last ({which}): it was still improving; "
                         f"raise --epochs (or --{row['model']}.epochs)")
    return lines
