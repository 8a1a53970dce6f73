"""The teacher's top-N per user for a general student (``recbole_rd.distill.user_teacher``) at
10^5 users x 10^5 items: peak memory the block computation adds, against the bound the code claims
(``WORKING_COPIES`` score-sized buffers of ``SCORE_BUDGET`` floats, plus the top-N table it returns),
and the time per user. A BPR teacher (d=64, random weights) and random training items (20 per user).

``python bench_user_topk.py [users_ranked [users items]]`` (default 8192 100000 100000): ranks the
first ``users_ranked`` users (the blocks and their memory are those of the full pass; its time is
extrapolated to all users); ``users_ranked`` = ``users`` runs the full pass. The dense score matrix
(users x items) would hold 37 GiB at the default size."""

import json
import sys
import time
from types import SimpleNamespace

import torch
from recbole.data.interaction import Interaction
from recbole.model.general_recommender.bpr import BPR

from common import peak_rss_mib, report
from recbole_rd.distill.base import TeacherNeed
from recbole_rd.distill.teacher import SCORE_BUDGET
from recbole_rd.distill.user_teacher import user_blocks, user_teacher_ranking
from recbole_rd.model.general_recommender.block_scoring import block_scoring

N, D, TRAINED_PER_USER = 100, 64, 20
# score-sized buffers alive at once: a block's scores, the top-k's candidate gather and group maxima,
# the merged top-N, and the allocator's slack
WORKING_COPIES = 4


def bpr_teacher(n_users, n_items):
    """RecBole's BPR at d=64 over ``n_users`` x ``n_items`` (ids 0 padding), random weights, eval mode."""
    config = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "NEG_PREFIX": "neg_", "device": "cpu",
              "embedding_size": D}
    sizes = {"user_id": n_users, "item_id": n_items}
    return BPR(config, SimpleNamespace(num=sizes.__getitem__)).eval()


def training_data(n_users, n_items):
    users = torch.arange(1, n_users).repeat_interleave(TRAINED_PER_USER)
    items = torch.randint(1, n_items, (len(users),))
    return SimpleNamespace(user_num=n_users, item_num=n_items, uid_field="user_id", iid_field="item_id",
                           inter_feat=Interaction({"user_id": users, "item_id": items}))


def main(ranked=8192, n_users=100_000, n_items=100_000):
    torch.manual_seed(0)
    teacher, dataset = bpr_teacher(n_users, n_items), training_data(n_users, n_items)
    block = user_blocks(block_scoring(teacher), teacher, n_items, N)
    before = peak_rss_mib()
    start = time.perf_counter()
    ranking = user_teacher_ranking(teacher, dataset, TeacherNeed(N, scores=True), "cpu", rows=(0, ranked))
    seconds = time.perf_counter() - start
    table_mib = (ranking.ids.numel() * 4 + ranking.scores.numel() * 2) / 2**20
    added = peak_rss_mib() - before
    full_table_mib = n_users * N * 6 / 2**20
    row = {"users ranked": ranked, "users": n_users, "items": n_items, "N": N,
           "block users x items": f"{block[0]} x {block[1]}", "seconds": round(seconds, 1),
           "users/s": round(ranked / seconds), "all users, s (extrapolated)": round(seconds * n_users / ranked),
           "rss before (MiB)": round(before), "added by the pass (MiB)": round(added),
           "top-N table (MiB)": round(table_mib, 1),
           "dense scores would be (MiB)": round(n_users * n_items * 4 / 2**20)}
    print(json.dumps(row))
    bound = WORKING_COPIES * SCORE_BUDGET * 4 / 2**20
    report(f"Teacher top-{N} per user (BPR d={D})", [row],
           [("memory added by the pass, MiB", round(added), f"<= {round(bound + table_mib)} ({WORKING_COPIES} x "
             f"SCORE_BUDGET x 4 B + top-N table)", added <= bound + table_mib)],
           [("bound at all users, MiB", round(bound + full_table_mib), "only the top-N table grows with users")])


if __name__ == "__main__":
    main(*map(int, sys.argv[1:4]))
