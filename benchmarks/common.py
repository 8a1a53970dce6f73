"""Shared set-up of the benchmarks: generated data of a given size and prepared RecBole objects.

Device: ``RECBOLE_RD_GPU=0`` runs on ``cuda:0`` (the value is RecBole's ``gpu_id``); unset, the CPU.
"""

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ARGV = sys.argv[1:]  # the benchmark's own arguments; the configs below do not read the command line

from recbole_rd.data.sample import generate_checkins, write_atomic_inter  # noqa: E402
from recbole_rd.quick_start import prepare  # noqa: E402
from recbole_rd.compare.report import format_table  # noqa: E402

WORKDIR = Path(os.environ.get("RECBOLE_RD_BENCH_DIR", tempfile.gettempdir())) / "recbole-rd-bench"


def prepared(model, n_users, n_items, min_len=8, max_len=24, full_catalogue=False, **config):
    """(config, train, valid, test) on a generated dataset of about ``n_users`` x ``n_items``.

    ``full_catalogue``: all ``n_items`` items exist (an item file lists them), not only the
    ones the generated check-ins happen to visit.
    """
    name = f"gen-{n_users}-{n_items}-{min_len}-{max_len}"
    folder = WORKDIR / "dataset" / name
    if not (folder / f"{name}.inter").is_file():
        write_atomic_inter(folder / f"{name}.inter", *generate_checkins(
            n_users=n_users, n_items=n_items, min_len=min_len, max_len=max_len, seed=1))
    load_col = {"inter": ["user_id", "item_id", "timestamp"]}
    if full_catalogue:
        (folder / f"{name}.item").write_text("item_id:token\n" + "".join(f"{i}\n" for i in range(n_items)))
        load_col["item"] = ["item_id"]
    settings = {"data_path": str(WORKDIR / "dataset"), "checkpoint_dir": str(WORKDIR / "saved"),
                "load_col": load_col, "state": "ERROR",
                "show_progress": False, "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
                "gpu_id": os.environ.get("RECBOLE_RD_GPU", ""), "fused_optimizer": True, **config}
    return prepare(model, name, config_dict=settings, reads_command_line=False)


def best_of(fn, repeats=3):
    """Smallest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_of_interleaved(fns, repeats=3):
    """``{name: smallest wall time}`` of the callables ``fns``, called in turn ``repeats``
    times, so that a change of machine load hits all of them alike."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_device_mib(device):
    """Peak CUDA memory allocated on ``device`` since the last reset (None on CPU)."""
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**20) if torch.device(device).type == "cuda" else None


class LargestScores:
    """Within ``with LargestScores(model) as seen:``, ``seen.largest`` is the largest number of
    scores that one call of the model's ``full_sort_predict``, ``score_all`` or ``score_shared``
    returned (the score matrices actually produced, not a formula)."""

    METHODS = ("full_sort_predict", "score_all", "score_shared")

    def __init__(self, model):
        self.model, self.largest, self.calls = model, 0, 0

    def _wrap(self, method):
        def wrapped(*args, **kwargs):
            out = method(*args, **kwargs)
            self.largest, self.calls = max(self.largest, out.numel()), self.calls + 1
            return out
        return wrapped

    def __enter__(self):
        for name in self.METHODS:
            if hasattr(self.model, name):
                setattr(self.model, name, self._wrap(getattr(self.model, name)))
        return self

    def __exit__(self, *exc):
        for name in self.METHODS:
            self.model.__dict__.pop(name, None)


def report(title, rows, checks, info=()):
    """Print a Markdown table, the target checks ``(label, measured value, target text, ok)``
    and the figures without target ``(label, value, note)``; exit 1 when a target is missed."""
    print(f"## {title}\n")
    print(format_table(rows) + "\n")
    failed = False
    for label, value, target, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {label} = {value} (target {target})")
        failed |= not ok
    for label, value, note in info:
        print(f"INFO: {label} = {value} ({note})")
    sys.exit(1 if failed else 0)
