"""Target 5: how the RD epoch and the teacher top-K pass grow when the catalogue grows 10x
(14K -> 140K items, generated), and full-sort scoring memory stays bounded (chunked)."""

import time

from bench_rd_epoch import epoch_seconds, save_untrained_teacher, trainer_for
from common import peak_rss_mib, prepared, report
from recbole_rd.distill.teacher import SCORE_BUDGET, items_per_block, rows_per_block, teacher_topk


def measure(n_items, n_users=3000):
    config, train, _, _ = prepared("CaserRD", n_users, n_items, full_catalogue=True, K=10, epsilon=100,
                                   dynamic_start_epoch=0)
    teacher = save_untrained_teacher(config, train)
    start = time.perf_counter()
    teacher_topk(teacher.model.eval(), train._dataset, 10, config["device"])
    topk_s = time.perf_counter() - start
    config["teacher_checkpoint"] = teacher.saved_model_file
    distilled = trainer_for(config, train)
    distilled.prepare_teacher(train)
    return {"items": train._dataset.item_num, "instances": len(train._dataset), "topk_pass_s": round(topk_s, 2),
            "rd_epoch_s": round(epoch_seconds(distilled, train), 2), "peak_rss_mib": round(peak_rss_mib()),
            "scores_held_at_once": scores_held(teacher.model, train._dataset.item_num)}


def scores_held(model, n_items):
    rows = rows_per_block(n_items)
    return rows * min(n_items, items_per_block(model, n_items, rows, 10))


def main():
    rows = [measure(14000), measure(140000)]
    epoch_growth = round(rows[1]["rd_epoch_s"] / rows[0]["rd_epoch_s"], 2)
    topk_growth = round(rows[1]["topk_pass_s"] / rows[0]["topk_pass_s"], 2)
    report("Scaling with the catalogue (x10 items, same users)", rows,
           [("RD epoch growth for 10x items", epoch_growth, "reported (parameters grow 10x)", True),
            ("top-K pass growth for 10x items", topk_growth, "<= 15 (linear in items)", topk_growth <= 15),
            ("scores held at once, 140K items", rows[1]["scores_held_at_once"], f"<= {SCORE_BUDGET}",
             rows[1]["scores_held_at_once"] <= SCORE_BUDGET)])


if __name__ == "__main__":
    main()
