"""Target 3: the teacher top-K pass over all training instances in chunks: throughput
(instances/s; the authors' code: about 130/s) and peak memory for two dataset sizes.
Each size runs in its own process so its peak RSS is its own
(``python bench_topk_pass.py [small_users large_users]``, default 3000 12000). Targets: >= 13,000 instances/s;
the memory the pass adds stays within the bound the code claims: ``SCORE_BUDGET`` scores of
4 bytes held at once, times ``WORKING_COPIES``, plus the top-K table it returns."""

import json
import subprocess
import sys
import time
from pathlib import Path

TARGET = 100 * 130
# score-sized buffers alive at once in a block: the scores, Caser's per-user part before it is
# expanded, the masked candidates / top-k temporaries, and the allocator's slack
WORKING_COPIES = 4


def one(n_users, n_items):
    from common import LargestScores, peak_device_mib, peak_rss_mib, prepared
    from recbole_rd.distill.teacher import SCORE_BUDGET, teacher_topk
    from recbole_rd.quick_start.quick_start import teacher_config
    from recbole_rd.utils import get_model

    config, train, _, _ = prepared("CaserRD", n_users, n_items)
    teacher_cfg = teacher_config(config)
    teacher = get_model("Caser")(teacher_cfg, train._dataset).to(config["device"]).eval()
    before = peak_rss_mib()
    with LargestScores(teacher) as seen:
        start = time.perf_counter()
        topk = teacher_topk(teacher, train._dataset, 10, config["device"])
        seconds = time.perf_counter() - start
    n = len(train._dataset)
    table_mib = topk.numel() * topk.element_size() / 2**20
    print(json.dumps({"instances": n, "items": train._dataset.item_num, "seconds": round(seconds, 2),
                      "instances_per_s": round(n / seconds), "rss_before_pass_mib": round(before),
                      "peak_rss_mib": round(peak_rss_mib()), "peak_cuda_mib": peak_device_mib(config["device"]),
                      "largest_score_matrix": seen.largest, "topk_table_mib": round(table_mib, 1),
                      "bound_mib": round(WORKING_COPIES * SCORE_BUDGET * 4 / 2**20 + table_mib),
                      "dense_scores_would_be_mib": round(n * train._dataset.item_num * 4 / 2**20)}))


def main(sizes=(3000, 12000)):
    rows = []
    for users in sizes:
        out = subprocess.run([sys.executable, __file__, "one", str(users), "14000"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    from common import report
    from recbole_rd.distill.teacher import SCORE_BUDGET

    big = rows[1]
    memory = big["peak_cuda_mib"] if big["peak_cuda_mib"] is not None else big["peak_rss_mib"] - big["rss_before_pass_mib"]
    report("Teacher top-K pass (Caser d=100, K=10)", rows,
           [("instances/s (larger set)", big["instances_per_s"], f">= {TARGET}", big["instances_per_s"] >= TARGET),
            ("largest score matrix (larger set)", big["largest_score_matrix"], f"<= {SCORE_BUDGET} (SCORE_BUDGET)",
             big["largest_score_matrix"] <= SCORE_BUDGET),
            ("memory added by the pass, MiB (larger set; CUDA: peak allocated)", memory,
             f"<= {big['bound_mib']} ({WORKING_COPIES} x SCORE_BUDGET x 4 B + top-K table)",
             memory <= big["bound_mib"])])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        one(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main(tuple(map(int, sys.argv[1:3])) or (3000, 12000))  # [small_users large_users]
