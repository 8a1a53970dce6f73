"""Shared set-up of the benchmarks: generated data of a given size and prepared RecBole objects."""

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ARGV = sys.argv[1:]
sys.argv = sys.argv[:1]  # RecBole's Config reads sys.argv: keep our arguments out of it

from recbole_rd.data.generate import generate_checkins, write_atomic_inter  # noqa: E402
from recbole_rd.quick_start import prepare  # noqa: E402
from recbole_rd.quick_start.compare import format_table  # noqa: E402

WORKDIR = Path(os.environ.get("RECBOLE_RD_BENCH_DIR", tempfile.gettempdir())) / "recbole-rd-bench"


def prepared(model, n_users, n_items, min_len=8, max_len=24, **config):
    """(config, train, valid, test) on a generated dataset of about ``n_users`` x ``n_items``."""
    name = f"gen-{n_users}-{n_items}-{min_len}-{max_len}"
    path = WORKDIR / "dataset" / name / f"{name}.inter"
    if not path.is_file():
        write_atomic_inter(path, *generate_checkins(n_users=n_users, n_items=n_items, min_len=min_len,
                                                    max_len=max_len, seed=1))
    settings = {"data_path": str(WORKDIR / "dataset"), "checkpoint_dir": str(WORKDIR / "saved"),
                "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "state": "ERROR",
                "show_progress": False, "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",
                "gpu_id": os.environ.get("RECBOLE_RD_GPU", ""), **config}
    return prepare(model, name, config_dict=settings)


def best_of(fn, repeats=3):
    """Smallest wall time of ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(title, rows, checks):
    """Print a Markdown table and the target checks; exit 1 when a target is missed."""
    print(f"## {title}\n")
    print(format_table(rows) + "\n")
    failed = False
    for label, value, target, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {label} = {value} (target {target})")
        failed |= not ok
    sys.exit(1 if failed else 0)
