"""Target 3: the teacher top-K pass over all training instances in chunks: throughput
(instances/s; the authors' code: about 130/s) and peak memory for two dataset sizes.
Each size runs in its own process so its peak RSS is its own. Target: >= 13,000 instances/s."""

import json
import subprocess
import sys
import time
from pathlib import Path

TARGET = 100 * 130


def one(n_users, n_items):
    from common import peak_rss_mib, prepared
    from recbole_rd.distill.teacher import teacher_topk
    from recbole_rd.quick_start.quick_start import teacher_config
    from recbole_rd.utils import get_model

    config, train, _, _ = prepared("CaserRD", n_users, n_items)
    teacher_cfg = teacher_config(config)
    teacher = get_model("Caser")(teacher_cfg, train._dataset).to(config["device"]).eval()
    before = peak_rss_mib()
    start = time.perf_counter()
    topk = teacher_topk(teacher, train._dataset, 10, config["device"])
    seconds = time.perf_counter() - start
    n = len(train._dataset)
    print(json.dumps({"instances": n, "items": train._dataset.item_num, "seconds": round(seconds, 2),
                      "instances_per_s": round(n / seconds), "rss_before_pass_mib": round(before),
                      "peak_rss_mib": round(peak_rss_mib()), "topk_table_mib": round(topk.numel() * 8 / 2**20, 1),
                      "dense_scores_would_be_mib": round(n * train._dataset.item_num * 4 / 2**20)}))


def main():
    rows = []
    for users in (3000, 12000):
        out = subprocess.run([sys.executable, __file__, "one", str(users), "14000"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    from common import report

    growth = rows[1]["peak_rss_mib"] - rows[1]["rss_before_pass_mib"]
    report("Teacher top-K pass (Caser d=100, K=10)", rows,
           [("instances/s (larger set)", rows[1]["instances_per_s"], f">= {TARGET}",
             rows[1]["instances_per_s"] >= TARGET),
            ("memory added by the pass, MiB (larger set)", growth,
             "< 1/4 of a dense scores matrix", growth < rows[1]["dense_scores_would_be_mib"] / 4)])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        one(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
