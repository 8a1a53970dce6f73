"""Teacher vs student alone vs RD student (and RecBole baselines) under one protocol.

    python run_recbole_rd.py --compare --model=Caser --dataset=foursquare-sample \
        [--baselines=Pop,SASRec] [--seeds=2020,2021] [--results_dir=results]

Writes ``<dataset>-<model>-compare.{md,csv,png}`` and ``...-significance.md``.
The paper's protocol (``eval_protocol: paper``) is the default here.
"""

import csv
import io
import statistics
import time
from pathlib import Path

import torch

from recbole_rd.config import Config
from recbole_rd.data.paper_protocol import PeriodEvalData
from recbole_rd.distill.teacher import derived_config, rows_per_block
from recbole_rd.trainer.distill_trainer import check_distillation_config
from recbole_rd.quick_start.quick_start import prepare, teacher_config, train_and_test
from recbole_rd.ranking import top_k
from recbole_rd.utils import ConfigError, atomic_write


def user_blocks(eval_data, device):
    """The users of ``eval_data`` on ``device``, in blocks of :func:`rows_per_block` rows."""
    step = rows_per_block(eval_data._dataset.item_num)
    for batch in eval_data:
        interaction = batch[0].to(device)
        for first in range(0, len(interaction), step):
            yield interaction[first:first + step]


@torch.no_grad()
def time_topk_lists(model, eval_data, k=10, repeats=3):
    """Best-of-``repeats`` seconds to produce top-``k`` lists for every user of ``eval_data``."""
    model.eval()
    device = next(model.parameters()).device
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for part in user_blocks(eval_data, device):
            top_k(model.full_sort_predict(part).view(len(part), -1), k)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def format_table(rows):
    """Markdown table of result rows (keys of the first row)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_text(path, text):
    atomic_write(path, lambda f: f.write(text), mode="w")


def write_csv(rows, path):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def baseline_config(name, config, config_file_list, config_dict):
    """A RecBole baseline's own config, on the window length of the prepared data."""
    base = Config(model=name, dataset=config["dataset"], config_file_list=config_file_list,
                  config_dict={**(config_dict or {}), "seed": config["seed"],
                               "MAX_ITEM_LIST_LENGTH": config["MAX_ITEM_LIST_LENGTH"],
                               "data_path": config["data_path"], "checkpoint_dir": config["checkpoint_dir"],
                               "train_neg_sample_args": None, "valid_metric": config["valid_metric"]})
    if str(base["loss_type"]).upper() == "BPR":
        raise ConfigError(f"baselines: {name} with loss_type BPR needs sampled negatives, but the comparison "
                          f"shares one split without them; pass --loss_type=CE or use Pop, SASRec, GRU4Rec, "
                          f"recbole.Caser")
    return base


def train_all(base_model, seed, dataset, config_file_list, config_dict, baselines, progress):
    """Results of teacher, student, RD student and baselines for one seed."""
    config, train, valid, test = prepare(f"{base_model}RD", dataset, config_file_list,
                                         {**config_dict, "seed": seed})
    check_distillation_config(config, train._dataset.item_num)
    jobs = [(f"{base_model}-T", teacher_config(config), "teacher"),
            (f"{base_model}-S", derived_config(config, model=base_model), "student"),
            (f"{base_model}-RD", config, "rd")]
    jobs += [(name, None, name) for name in baselines]
    results = {}
    for index, (label, job_config, tag) in enumerate(jobs, 1):
        progress(f"[seed {seed}] {index}/{len(jobs)} training {label}")
        if label == f"{base_model}-RD":
            job_config["teacher_checkpoint"] = results[f"{base_model}-T"]["checkpoint"]
        if job_config is None:
            job_config = baseline_config(label, config, config_file_list, config_dict)
        result = train_and_test(job_config, train, valid, test, tag=tag)
        model = result["trainer"].model
        result["topk_seconds"] = time_topk_lists(model, test)
        if isinstance(test, PeriodEvalData):
            result["per_user"] = test.evaluate(model, config["device"], per_user=True)
        results[label] = result
    return results


def summarise(runs):
    """One row per model: mean (± std over seeds) of each test metric, size and time."""
    rows = []
    teacher = next(iter(runs[0]))
    for label in runs[0]:
        first = runs[0][label]
        row = {"model": label, "d": first.get("embedding_size"), "parameters": first["parameters"]}
        for metric in first["test_result"]:
            values = [float(run[label]["test_result"][metric]) for run in runs]
            mean = statistics.fmean(values)
            row[metric] = f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ± {statistics.stdev(values):.4f}"
        seconds = statistics.fmean(run[label]["topk_seconds"] for run in runs)
        row["top10_lists_s"] = round(seconds, 4)
        row["time_vs_teacher"] = round(seconds / statistics.fmean(r[teacher]["topk_seconds"] for r in runs), 3)
        rows.append(row)
    return rows


def significance(runs, base_model):
    """Paired t-tests over users (metrics averaged over seeds): RD vs S and RD vs T."""
    from scipy.stats import ttest_rel

    def per_user(label):
        return {m: torch.stack([run[label]["per_user"][m] for run in runs]).mean(0).numpy()
                for m in runs[0][label]["per_user"]}

    rd, rows = per_user(f"{base_model}-RD"), []
    for other in (f"{base_model}-S", f"{base_model}-T"):
        theirs = per_user(other)
        for metric, values in rd.items():
            diff = float((values - theirs[metric]).mean())
            p = float(ttest_rel(values, theirs[metric]).pvalue) if diff != 0 else 1.0
            rows.append({"comparison": f"RD vs {other.split('-')[-1]}", "metric": metric,
                         "mean_difference": round(diff, 5), "p_value": round(p, 5), "users": len(values)})
    return rows


def plot(rows, path):
    """Accuracy against parameters and against top-10 time, one point per model."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metric = "map" if "map" in rows[0] else [k for k in rows[0] if k.startswith("ndcg")][0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "parameters", "parameters"), (axes[1], "top10_lists_s", "top-10 lists, s")):
        for row in rows:
            y = float(str(row[metric]).split(" ")[0])
            ax.scatter(row[key], y)
            ax.annotate(row["model"], (row[key], y), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path


def compare(base_model, dataset, config_file_list=None, config_dict=None, baselines=(), results_dir="results",
            seeds=(2020,), progress=print):
    """Train teacher, student alone and RD student of ``base_model`` (``Caser`` or
    ``Fossil``) plus ``baselines`` on the same split for each seed; write the table,
    significance tests and a plot under ``results_dir``; return the table rows."""
    config_dict = {"eval_protocol": "paper", **(config_dict or {})}
    runs = [train_all(base_model, seed, dataset, config_file_list, config_dict, baselines, progress)
            for seed in seeds]
    rows = summarise(runs)
    stem = Path(results_dir) / f"{dataset}-{base_model}-compare"
    write_csv(rows, f"{stem}.csv")
    table = format_table(rows)
    write_text(f"{stem}.md", table + "\n")
    written = [f"{stem}.md", f"{stem}.csv"]
    if "per_user" in runs[0][f"{base_model}-RD"]:
        tests = significance(runs, base_model)
        write_text(f"{stem}-significance.md", format_table(tests) + "\n")
        written.append(f"{stem}-significance.md")
    if plot(rows, f"{stem}.png"):
        written.append(f"{stem}.png")
    progress(table)
    progress("written: " + ", ".join(written))
    return rows
