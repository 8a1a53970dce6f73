"""Target 5: how the RD epoch and the teacher top-K pass grow when the catalogue grows 10x
(14K -> 140K items, generated), and whether the scores held at once stay within
``SCORE_BUDGET`` (2^23): measured by recording every score matrix the teacher's scoring
methods return during the pass, for our Caser and for a RecBole teacher (SASRec).

    python bench_scaling.py [users]     # default 3000 users
"""

import time

from bench_rd_epoch import epoch_seconds, save_untrained_teacher, trainer_for
from common import ARGV, LargestScores, peak_device_mib, peak_rss_mib, prepared, report
from recbole_rd.distill.teacher import SCORE_BUDGET, rows_per_block, teacher_topk
from recbole_rd.utils import get_model

SASREC = dict(MAX_ITEM_LIST_LENGTH=5, n_layers=1, n_heads=1, hidden_size=64, inner_size=128)


def measure(n_items, n_users):
    config, train, _, _ = prepared("CaserRD", n_users, n_items, full_catalogue=True, K=10, epsilon=100,
                                   dynamic_start_epoch=0)
    teacher = save_untrained_teacher(config, train)
    with LargestScores(teacher.model.eval()) as seen:
        start = time.perf_counter()
        teacher_topk(teacher.model, train._dataset, 10, config["device"])
        topk_s = time.perf_counter() - start
    config["teacher_checkpoint"] = teacher.saved_model_file
    distilled = trainer_for(config, train)
    distilled.prepare_teacher(train)
    return {"items": train._dataset.item_num, "instances": len(train._dataset), "topk_pass_s": round(topk_s, 2),
            "rd_epoch_s": round(epoch_seconds(distilled, train), 2), "peak_rss_mib": round(peak_rss_mib()),
            "peak_cuda_mib": peak_device_mib(config["device"]), "caser_scores_held_at_once": seen.largest,
            "sasrec_scores_held_at_once": recbole_teacher_scores(n_items, n_users)}


def recbole_teacher_scores(n_items, n_users, chunks=2):
    """Largest score matrix of a RecBole SASRec teacher (untrained) in the first ``chunks``
    chunks of the top-K pass (every chunk has the same shape)."""
    config, train, _, _ = prepared("SASRec", n_users, n_items, full_catalogue=True, **SASREC)
    sasrec = get_model("SASRec")(config, train._dataset).to(config["device"]).eval()
    rows = rows_per_block(train._dataset.item_num)
    with LargestScores(sasrec) as seen:
        teacher_topk(sasrec, train._dataset, 10, config["device"], rows=(0, min(len(train._dataset), chunks * rows)))
    return seen.largest


def main(users=3000):
    rows = [measure(14000, users), measure(140000, users)]
    epoch_growth = round(rows[1]["rd_epoch_s"] / rows[0]["rd_epoch_s"], 2)
    topk_growth = round(rows[1]["topk_pass_s"] / rows[0]["topk_pass_s"], 2)
    checks = [("top-K pass growth for 10x items", topk_growth, "<= 15 (linear in items)", topk_growth <= 15)]
    checks += [(f"Caser teacher: scores held at once, {r['items']:,} items", r["caser_scores_held_at_once"],
                f"<= {SCORE_BUDGET} (SCORE_BUDGET)", r["caser_scores_held_at_once"] <= SCORE_BUDGET) for r in rows]
    checks += [(f"SASRec teacher: scores held at once, {r['items']:,} items", r["sasrec_scores_held_at_once"],
                f"<= {SCORE_BUDGET} (SCORE_BUDGET)", r["sasrec_scores_held_at_once"] <= SCORE_BUDGET) for r in rows]
    report("Scaling with the catalogue (x10 items, same users)", rows, checks,
           [("RD epoch growth for 10x items", epoch_growth, "parameters grow 10x")])


if __name__ == "__main__":
    main(*map(int, ARGV[:1]))
