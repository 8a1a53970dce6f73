"""Serving latency of exported scorers (``python -m recbole_rd.export``): the Caser student (d=50) and teacher
(d=100), top-10 over the whole catalogue, batch 1 and batch 256, p50 and p99, through onnxruntime and through
torch (TorchScript), all measured side by side in one run (interleaved), at the catalogue of Foursquare NYC
(5,135 items) and one 10x larger, on generated data. ``RECBOLE_RD_GPU=0``: the torch rows on CUDA too.

    python benchmarks/bench_serving.py [calls] [student width, default 50]
"""

import os
import statistics
import time

import numpy as np
import onnxruntime
import torch
from common import ARGV, WORKDIR, prepared, report
from recbole_rd.export import export_model
from recbole_rd.quick_start import run_recbole_rd

CATALOGUES = (5135, 51350)
BATCHES = (1, 256)


def trained_pair(n_items, width=50):
    """Checkpoints of a Caser teacher (d=100) and its CaserRD student (d=``width``), one epoch each."""
    config, *_ = prepared("CaserRD", 2000, n_items, full_catalogue=True)
    result = run_recbole_rd("CaserRD", config["dataset"], config_dict={
        "data_path": str(WORKDIR / "dataset"), "checkpoint_dir": str(WORKDIR / "saved"), "epochs": 1,
        "state": "ERROR", "show_progress": False, "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)", "load_col": config["load_col"], "gpu_id": "", "K": 5,
        "embedding_size": width},
        reads_command_line=False)
    return {"teacher": result["teacher"]["checkpoint"], "student": result["checkpoint"]}


def feeds(n_items, max_len, batch, count, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        seq = rng.integers(1, n_items, size=(batch, max_len))
        yield {"user": rng.integers(1, 100, size=batch), "item_seq": seq, "item_seq_len": np.full(batch, max_len),
               "exclude": seq[:, :3]}


def runners(folders, device):
    """``{(role, runtime): call(feed)}`` of the exported folders."""
    calls = {}
    for role, folder in folders.items():
        session = onnxruntime.InferenceSession(str(folder["onnx"] / "model.onnx"))
        calls[role, "onnxruntime"] = lambda feed, s=session: s.run(None, feed)
        scripted = torch.jit.load(str(folder["torchscript"] / "model.pt"), map_location=device)
        calls[role, f"torch {device}"] = lambda feed, m=scripted: m(
            *(torch.as_tensor(feed[k], device=device) for k in ("user", "item_seq", "item_seq_len", "exclude")))
    return calls


def latencies(calls, n_items, max_len, batch, count):
    """``{name: [ms per call]}``, the calls interleaved on the same inputs."""
    times = {name: [] for name in calls}
    with torch.no_grad():
        for feed in feeds(n_items, max_len, batch, count):
            for name, call in calls.items():
                start = time.perf_counter()
                call(feed)
                if "cuda" in name[1]:
                    torch.cuda.synchronize()
                times[name].append((time.perf_counter() - start) * 1000)
    return times


def p(values, q):
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main():
    count = int(ARGV[0]) if ARGV else 200
    width = int(ARGV[1]) if len(ARGV) > 1 else 50
    devices = ["cpu"] + (["cuda"] if os.environ.get("RECBOLE_RD_GPU", "") != "" and torch.cuda.is_available() else [])
    rows, info = [], []
    for n_items in CATALOGUES:
        folders = {}
        for role, checkpoint in trained_pair(n_items, width).items():
            folders[role] = {fmt: export_model(checkpoint, f"{checkpoint}-{fmt}-{time.time_ns()}", fmt)
                             for fmt in ("onnx", "torchscript")}
        calls = {}
        for device in devices:
            calls.update(runners(folders, device))
        for batch in BATCHES:
            times = latencies(calls, n_items, 5, batch, count if batch == 1 else max(20, count // 10))
            for (role, runtime), values in times.items():
                rows.append({"items": f"{n_items:,}", "batch": batch, "model": role, "runtime": runtime,
                             "p50 ms": f"{p(values, 50):.3f}", "p99 ms": f"{p(values, 99):.3f}"})
            for runtime in sorted({r for _, r in times}):
                student, teacher = (statistics.median(times[role, runtime]) for role in ("student", "teacher"))
                info.append((f"{n_items:,} items, batch {batch}, {runtime}: student / teacher p50",
                             f"{student / teacher:.2f}", "side by side"))
            for role in ("student", "teacher"):
                onnx, torch_cpu = (statistics.median(times[role, r]) for r in ("onnxruntime", "torch cpu"))
                info.append((f"{n_items:,} items, batch {batch}, {role}: onnxruntime / torch cpu p50",
                             f"{onnx / torch_cpu:.2f}", "side by side"))
    report(f"Serving latency of exported scorers (top-10 over all items; student d={width}, teacher d=100)",
           rows, [], info)


if __name__ == "__main__":
    main()
