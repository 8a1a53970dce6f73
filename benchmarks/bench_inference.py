"""Target 1: top-10 lists for all users, student (d=50) vs teacher (d=100), Caser and Fossil,
at the paper's Gowalla size (about 13K users, 14K items). Targets: Caser <= 0.5x, Fossil <= 0.6x."""

from functools import partial

import torch
from common import ARGV, best_of_interleaved, prepared, report
from recbole_rd.config import config_beside
from recbole_rd.compare.timing import time_topk_lists, user_blocks
from recbole_rd.utils import get_model

TARGETS = {"Caser": 0.5, "Fossil": 0.6}


def encoded_blocks(model, test, device):
    """Encoded states of all test users, in the row blocks used for ranking."""
    with torch.no_grad():
        return [model.encode(part) for part in user_blocks(test, device)]


def time_scoring_only(model, states):
    """The item product alone (no encoder, no top-k): the floor of the lists' time."""
    with torch.no_grad():
        for state in states:
            model.score_all(state)


def main(repeats=7):
    torch.manual_seed(0)
    config, train, _, test = prepared("Caser", 13000, 14000)
    rows, checks, info = [], [], []
    for name, target in TARGETS.items():
        models = {d: get_model(name)(config_beside(config, name, {"embedding_size": d}), train._dataset)
                  .to(config["device"]).eval() for d in (100, 50)}
        fns = {d: partial(time_topk_lists, m, test, repeats=1) for d, m in models.items()}
        fns.update({("scoring", d): partial(time_scoring_only, m, encoded_blocks(m, test, config["device"]))
                    for d, m in models.items()})
        times = best_of_interleaved(fns, repeats)
        for d, model in models.items():
            rows.append({"model": name, "d": d, "parameters": sum(p.numel() for p in model.parameters()),
                         "users": len(test._dataset.inter_feat), "items": train._dataset.item_num,
                         "device": str(config["device"]), "top10_all_users_s": round(times[d], 3),
                         "item_product_only_s": round(times["scoring", d], 3)})
        ratio = round(times[50] / times[100], 3)
        checks.append((f"{name} student/teacher time", ratio, f"<= {target}", ratio <= target))
        floor = round(times["scoring", 50] / times["scoring", 100], 3)
        info.append((f"{name} student/teacher item product alone", floor, "the lists' ratio's floor on this device"))
    report("Inference: top-10 lists for all users", rows, checks, info)


if __name__ == "__main__":
    main(*map(int, ARGV[:1]))  # [repeats]
