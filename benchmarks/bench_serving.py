"""Serving latency of exported scorers (``python -m recbole_rd.export``): the Caser student (d=50) and teacher
(d=100), top-10 over the whole catalogue, batch 1 and batch 256, p50 and p99, through onnxruntime and through
torch (TorchScript), all measured side by side in one run (interleaved on the same inputs) and printed as
ratios. Catalogues: the real Foursquare NYC check-ins of ``../shared/data/foursquare-nyc`` (5,135 items; skipped
when absent) and a generated one 10x larger. ``RECBOLE_RD_GPU=0``: TorchScript on CUDA too.

Both runtimes run on the same number of CPU threads (default 1, as a server with one worker per core runs them:
on a busy machine, threads that wait for each other at every operation measure the other jobs, not the model).

    python benchmarks/bench_serving.py [calls at batch 1: 200] [student width: 50] [epochs: 1] [CPU threads: 1]
"""

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from common import ARGV, WORKDIR, prepared, report
from recbole_rd.data.convert import convert
from recbole_rd.export import export_model
from recbole_rd.quick_start import run_recbole_rd

NYC = Path(__file__).resolve().parents[2] / "shared" / "data" / "foursquare-nyc" / "checkins.tsv"
NYC_ITEMS = 5135  # its catalogue (../shared/data/README.md): the generated one has 10 times as many
BATCHES = (1, 256)
INPUTS = ("user", "item_seq", "item_seq_len", "history", "exclude")


def nyc_dataset():
    """``(dataset name, load_col)`` of the real NYC check-ins, converted once under the bench folder."""
    if not (WORKDIR / "dataset" / "foursquare-nyc" / "foursquare-nyc.inter").is_file():
        convert("generic", NYC, "foursquare-nyc", out_dir=WORKDIR / "dataset")
    return "foursquare-nyc", {"inter": ["user_id", "item_id", "timestamp"]}


def generated_dataset(n_items):
    config, *_ = prepared("CaserRD", 2000, n_items, full_catalogue=True)
    return config["dataset"], config["load_col"]


def trained_pair(dataset, load_col, width, epochs):
    """Checkpoints of a Caser teacher (d=100) and its CaserRD student (d=``width``), ``epochs`` epochs each."""
    result = run_recbole_rd("CaserRD", dataset, config_dict={
        "data_path": str(WORKDIR / "dataset"), "checkpoint_dir": str(WORKDIR / "saved"), "epochs": epochs,
        "state": "ERROR", "show_progress": False, "user_inter_num_interval": "[0,inf)",
        "item_inter_num_interval": "[0,inf)", "load_col": load_col, "gpu_id": "", "K": 5, "embedding_size": width},
        reads_command_line=False)
    return {"teacher": result["teacher"]["checkpoint"], "student": result["checkpoint"]}


def feeds(n_items, n_users, window, batch, count, seed=0):
    """``count`` random calls: windows of ``window`` items, the window and 15 more items as history, excluded."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        seq = rng.integers(1, n_items, size=(batch, window))
        history = np.concatenate([seq, rng.integers(1, n_items, size=(batch, 15))], 1)
        yield {"user": rng.integers(1, n_users, size=batch), "item_seq": seq, "item_seq_len": np.full(batch, window),
               "history": history, "exclude": history}


def runners(folders, devices, threads):
    """``{(role, runtime): call(feed)}`` of the exported folders; a device whose scorer fails is skipped."""
    calls, skipped = {}, []
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    for role, folder in folders.items():
        session = onnxruntime.InferenceSession(str(folder["onnx"] / "model.onnx"), options,
                                               providers=["CPUExecutionProvider"])
        calls[role, "onnxruntime cpu"] = lambda feed, s=session: s.run(None, feed)
        for device in devices:
            scripted = torch.jit.load(str(folder["torchscript"] / "model.pt"), map_location=device)
            call = (lambda feed, m=scripted, d=device: m(*(torch.as_tensor(feed[k], device=d) for k in INPUTS)))
            try:
                call(next(feeds(10, 10, 1, 2, 1)))
            except RuntimeError as err:
                skipped.append((f"{role}, torch {device}", str(err).splitlines()[0][:120], "skipped"))
                continue
            calls[role, f"torch {device}"] = call
    return calls, skipped


def latencies(calls, feed_args, count):
    """``{name: [ms per call]}``, the calls interleaved on the same inputs (3 warm-up rounds first)."""
    times = {name: [] for name in calls}
    with torch.no_grad():
        for round_, feed in enumerate(feeds(*feed_args, count + 3)):
            for name, call in calls.items():
                start = time.perf_counter()
                call(feed)
                if "cuda" in name[1]:
                    torch.cuda.synchronize()
                if round_ >= 3:
                    times[name].append((time.perf_counter() - start) * 1000)
    return times


def percentile(values, q):
    return float(np.percentile(values, q))


def ratio_line(label, a, b):
    return (label, f"p50 {statistics.median(a) / statistics.median(b):.2f}, "
                   f"p99 {percentile(a, 99) / percentile(b, 99):.2f}", "side by side")


def main():
    count = int(ARGV[0]) if ARGV else 200
    width = int(ARGV[1]) if len(ARGV) > 1 else 50
    epochs = int(ARGV[2]) if len(ARGV) > 2 else 1
    threads = int(ARGV[3]) if len(ARGV) > 3 else 1
    gpu = os.environ.get("RECBOLE_RD_GPU", "") != ""
    devices = ["cpu"] + (["cuda"] if gpu and torch.cuda.is_available() else [])
    rows, info = [], [("load average (1 min) at the start", f"{os.getloadavg()[0]:.1f}", f"{os.cpu_count()} CPUs")]
    catalogues = []
    if NYC.is_file():
        catalogues.append(("Foursquare NYC (real)", *nyc_dataset()))
    else:
        info.append(("Foursquare NYC (real)", f"{NYC} absent", "skipped"))
    catalogues.append(("generated, 10x NYC", *generated_dataset(10 * NYC_ITEMS)))
    if gpu and not torch.cuda.is_available():
        info.append(("torch cuda", "RECBOLE_RD_GPU is set but CUDA is not available", "skipped"))
    for label, dataset, load_col in catalogues:
        folders = {}
        for role, checkpoint in trained_pair(dataset, load_col, width, epochs).items():
            folders[role] = {fmt: export_model(checkpoint, f"{checkpoint}-{fmt}-{time.time_ns()}", fmt)
                             for fmt in ("onnx", "torchscript")}
        contract = json.loads((folders["teacher"]["onnx"] / "contract.json").read_text())
        n_items, n_users = contract["n_items"], contract["n_users"]
        torch.set_num_threads(threads)  # after training, which used every core
        calls, skipped = runners(folders, devices, threads)
        info += skipped
        for batch in BATCHES:
            times = latencies(calls, (n_items, n_users, 5, batch), count if batch == 1 else max(20, count // 4))
            for (role, runtime), values in times.items():
                rows.append({"catalogue": label, "items": f"{n_items - 1:,}", "batch": batch, "model": role,
                             "runtime": runtime, "p50 ms": f"{percentile(values, 50):.3f}",
                             "p99 ms": f"{percentile(values, 99):.3f}"})
            where = f"{n_items - 1:,} items, batch {batch}"
            for runtime in sorted({r for _, r in times}):
                info.append(ratio_line(f"{where}, {runtime}: student / teacher", times["student", runtime],
                                       times["teacher", runtime]))
            for role in ("student", "teacher"):
                for runtime in sorted({r for _, r in times} - {"onnxruntime cpu"}):
                    info.append(ratio_line(f"{where}, {role}: onnxruntime cpu / {runtime}",
                                           times[role, "onnxruntime cpu"], times[role, runtime]))
    info.append(("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}", f"{os.cpu_count()} CPUs"))
    report(f"Serving latency of exported scorers (top-10 over all items, seen items excluded; student d={width}, "
           f"teacher d=100, {epochs} epoch(s), {threads} CPU thread(s))", rows, [], info)


if __name__ == "__main__":
    main()
