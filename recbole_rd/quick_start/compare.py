"""Teacher vs student alone vs RD student (and optional RecBole baselines), one table.

    python run_recbole_rd.py --compare --model=Caser --dataset=foursquare-sample [--baselines=Pop,SASRec]
"""

import csv
import io
import time
from pathlib import Path

import torch

from recbole_rd.distill.teacher import derived_config
from recbole_rd.quick_start.quick_start import prepare, run_recbole_rd, teacher_config, train_and_test
from recbole_rd.utils import atomic_write


@torch.no_grad()
def time_topk_lists(model, eval_data, k=10, repeats=3):
    """Best-of-``repeats`` seconds to produce top-``k`` lists for every user of ``eval_data``."""
    model.eval()
    device = next(model.parameters()).device
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in eval_data:
            scores = model.full_sort_predict(batch[0].to(device))
            scores.view(len(batch[0]), -1).topk(k, dim=1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _row(label, result, test_data):
    model = result["trainer"].model
    return {"model": label, "d": result.get("embedding_size"), "parameters": result["parameters"],
            **{k: round(float(v), 4) for k, v in result["test_result"].items()},
            "topk_seconds": round(time_topk_lists(model, test_data), 4)}


def format_table(rows):
    """Markdown table of result rows (same keys in every row)."""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_results(rows, stem):
    """``stem.md`` and ``stem.csv``, each written atomically."""
    keys = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(f"{stem}.csv", lambda f: f.write(buffer.getvalue()), mode="w")
    atomic_write(f"{stem}.md", lambda f: f.write(format_table(rows) + "\n"), mode="w")


def compare(base_model, dataset, config_file_list=None, config_dict=None, baselines=(), results_dir="results"):
    """Train teacher, student alone and RD student of ``base_model`` (``Caser`` or
    ``Fossil``) on the same split and seed; print and write the comparison table."""
    config, train_data, valid_data, test_data = prepare(f"{base_model}RD", dataset, config_file_list, config_dict)
    teacher = train_and_test(teacher_config(config), train_data, valid_data, test_data, tag="teacher")
    student = train_and_test(derived_config(config, model=base_model), train_data, valid_data, test_data,
                             tag="student")
    config["teacher_checkpoint"] = teacher["checkpoint"]
    distilled = train_and_test(config, train_data, valid_data, test_data, tag="rd")
    rows = [_row(f"{base_model}-T", teacher, test_data), _row(f"{base_model}-S", student, test_data),
            _row(f"{base_model}-RD", distilled, test_data)]
    for name in baselines:
        result = run_recbole_rd(name, dataset, config_file_list, config_dict)
        rows.append({"model": name, "d": result.get("embedding_size"), "parameters": result["parameters"],
                     **{k: round(float(v), 4) for k, v in result["test_result"].items()}, "topk_seconds": None})
    for row in rows:
        row["time_vs_teacher"] = None if row["topk_seconds"] is None else round(
            row["topk_seconds"] / rows[0]["topk_seconds"], 3)
    stem = Path(results_dir) / f"{config['dataset']}-{base_model}-compare"
    write_results(rows, stem)
    table = format_table(rows)
    print(table)
    print(f"written: {stem}.md, {stem}.csv")
    return rows
