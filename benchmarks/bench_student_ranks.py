"""Target 6: DCD's per-epoch student ranks of the teacher's top-N, capped where its sampling
weights saturate (``saturation_cap``), cost <= 1/1.5 of exact ranks from a full sort, and give
the same sampling weights bit for bit; student-guided CD's ranks of its top-N among themselves
likewise, giving the same order."""

import torch

from common import ARGV, best_of_interleaved, prepared, report
from recbole_rd.distill.cd import positions_by_rank
from recbole_rd.distill.dcd import discrepancy_sampling_weights, saturation_cap, student_ranks
from recbole_rd.utils import get_model

TARGET = 1.5
N, T = 500, 10.0  # DCD's defaults
CD_N = 100  # CD's default


def main(users=1000, items=14000):
    config, train, _, _ = prepared("Caser", users, items)
    dataset = train._dataset
    student = get_model("Caser")(config, dataset).to(config["device"]).eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.stack([torch.randperm(dataset.item_num - 1, generator=generator)[:N] + 1 for _ in range(len(dataset))])
    cap = saturation_cap(N, T)
    ranks = {}

    def ranked(name, top, **kwargs):
        return lambda: ranks.__setitem__(name, student_ranks(student, dataset, top, config["device"],
                                                             config["ITEM_ID_FIELD"], **kwargs))

    times = best_of_interleaved({"exact": ranked("exact", ids), "capped": ranked("capped", ids, cap=cap),
                                 "cd exact": ranked("cd exact", ids[:, :CD_N]),
                                 "cd among": ranked("cd among", ids[:, :CD_N], among=True)}, repeats=3)
    weights = [discrepancy_sampling_weights(ranks[name].long(), T) for name in ("exact", "capped")]
    same = all(torch.equal(a, b) for a, b in zip(*weights))
    same_order = torch.equal(positions_by_rank(ranks["cd exact"]), positions_by_rank(ranks["cd among"]))
    hit = int((ranks["exact"] > cap).sum())
    rows, checks = [], []
    for method, n, (slow, fast), same_result in (("DCD", N, ("exact", "capped"), same),
                                                  ("CD student-guided", CD_N, ("cd exact", "cd among"), same_order)):
        speedup = round(times[slow] / times[fast], 2)
        rows.append({"method": method, "instances": len(dataset), "items": dataset.item_num, "N": n,
                     "all items, s": round(times[slow], 2), "ours, s": round(times[fast], 2), "speed-up": speedup})
        checks += [(f"{method}: speed-up", speedup, f">= {TARGET}", speedup >= TARGET),
                   (f"{method}: same {'sampling weights' if method == 'DCD' else 'order'} as exact ranks among all "
                    f"items", same_result, "True", same_result)]
    report("Student ranks per epoch: exact among all items vs capped (DCD) or among the top-N (CD)", rows,
           checks, [("DCD ranks above the cap", hit, "where capping changed a rank, not a weight")])


if __name__ == "__main__":
    main(*map(int, ARGV[:2]))
