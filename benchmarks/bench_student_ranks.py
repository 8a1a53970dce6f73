"""Target 6: DCD's per-epoch student ranks of the teacher's top-N, capped where its sampling
weights saturate (``saturation_cap``), cost <= 1/1.5 of exact ranks from a full sort, and give
the same sampling weights bit for bit."""

import torch

from common import ARGV, best_of_interleaved, prepared, report
from recbole_rd.distill.dcd import discrepancy_sampling_weights, saturation_cap, student_ranks
from recbole_rd.utils import get_model

TARGET = 1.5
N, T = 500, 10.0  # DCD's defaults


def main(users=1000, items=14000):
    config, train, _, _ = prepared("Caser", users, items)
    dataset = train._dataset
    student = get_model("Caser")(config, dataset).to(config["device"]).eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.stack([torch.randperm(dataset.item_num - 1, generator=generator)[:N] + 1 for _ in range(len(dataset))])
    cap = saturation_cap(N, T)
    ranks = {}

    def ranked(name, **kwargs):
        return lambda: ranks.__setitem__(name, student_ranks(student, dataset, ids, config["device"],
                                                             config["ITEM_ID_FIELD"], **kwargs))

    times = best_of_interleaved({"exact": ranked("exact"), "capped": ranked("capped", cap=cap)}, repeats=3)
    weights = [discrepancy_sampling_weights(ranks[name].long(), T) for name in ("exact", "capped")]
    same = all(torch.equal(a, b) for a, b in zip(*weights))
    hit = int((ranks["exact"] > cap).sum())
    speedup = round(times["exact"] / times["capped"], 2)
    rows = [{"instances": len(dataset), "items": dataset.item_num, "N": N, "cap": cap,
             "exact_s": round(times["exact"], 2), "capped_s": round(times["capped"], 2), "speed-up": speedup}]
    report("DCD student ranks per epoch: exact vs capped", rows,
           [("speed-up of capped ranks", speedup, f">= {TARGET}", speedup >= TARGET),
            ("sampling weights of capped ranks equal those of exact ranks", same, "True", same)],
           [("ranks above the cap", hit, "where capping changed a rank, not a weight")])


if __name__ == "__main__":
    main(*map(int, ARGV[:2]))
