"""Target 2: an RD epoch (K=10, epsilon=100, hybrid weighting on) costs <= 1.3x an epoch of
the same student trained alone; the one-off teacher top-K pass is excluded."""

from common import ARGV, best_of, best_of_interleaved, prepared, report
from recbole_rd.checkpoint import dataset_fingerprint
from recbole_rd.config import config_beside
from recbole_rd.quick_start.quick_start import teacher_config
from recbole_rd.trainer import get_trainer
from recbole_rd.utils import get_model

TARGET = 1.3


def trainer_for(config, train):
    model_class = get_model(config["model"])
    model = model_class(config, train._dataset).to(config["device"])
    return get_trainer(config["MODEL_TYPE"], config["model"], model_class)(config, model)


def save_untrained_teacher(config, train):
    """A teacher checkpoint (weights as initialised: the timing does not depend on them)."""
    teacher = trainer_for(teacher_config(config), train)
    teacher.dataset_fp = dataset_fingerprint(train._dataset)
    teacher._save_checkpoint(0, verbose=False)
    return teacher


def epoch_seconds(trainer, train):
    trainer.epoch = 0
    return best_of(lambda: trainer._train_epoch(train, 0), repeats=3)


def measure(base, n_users, n_items):
    config, train, _, _ = prepared(f"{base}RD", n_users, n_items, K=10, epsilon=100, weighting="hybrid",
                                   dynamic_start_epoch=0)
    teacher = save_untrained_teacher(config, train)
    config["teacher_checkpoint"] = teacher.saved_model_file
    student = trainer_for(config_beside(config, base), train)
    distilled = trainer_for(config, train)
    distilled.prepare_teacher(train)  # the one-off top-K pass, not timed
    distilled.epoch = 0
    times = best_of_interleaved({"student": lambda: student._train_epoch(train, 0),
                                 "rd": lambda: distilled._train_epoch(train, 0)}, repeats=5)
    s, rd = times["student"], times["rd"]
    return {"model": base, "instances": len(train._dataset), "items": train._dataset.item_num,
            "student_epoch_s": round(s, 2), "rd_epoch_s": round(rd, 2), "ratio": round(rd / s, 3)}


def main(users=6000, items=14000):
    rows = [measure(base, users, items) for base in ("Caser", "Fossil")]
    report("Distillation overhead per epoch", rows,
           [(f"{r['model']} RD/student epoch", r["ratio"], f"<= {TARGET}", r["ratio"] <= TARGET) for r in rows])


if __name__ == "__main__":
    main(*map(int, ARGV[:2]))
