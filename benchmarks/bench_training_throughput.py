"""Target 4: our Caser (L=5, batch 512) trains at least as many instances per second as
RecBole's built-in Caser at the same L and batch size, measured in the same run."""

from common import best_of, prepared, report
from recbole_rd.config import Config
from recbole_rd.trainer import get_trainer
from recbole_rd.utils import get_model


def instances_per_second(config, train):
    model_class = get_model(config["model"])
    model = model_class(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"], model_class)(config, model)
    seconds = best_of(lambda: trainer._train_epoch(train, 0), repeats=3)
    return len(train._dataset) / seconds, seconds


def main():
    config, train, _, _ = prepared("Caser", 6000, 14000, train_batch_size=512)
    ours, ours_s = instances_per_second(config, train)
    recbole = Config(model="recbole.Caser", dataset=config["dataset"], config_dict={
        "data_path": config["data_path"].rsplit("/", 1)[0], "MAX_ITEM_LIST_LENGTH": 5, "train_batch_size": 512,
        "train_neg_sample_args": None, "state": "ERROR", "gpu_id": config["gpu_id"], "fused_optimizer": True,
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]}})
    theirs, theirs_s = instances_per_second(recbole, train)
    rows = [{"model": "recbole_rd Caser (BCE, 3 negatives)", "d": config["embedding_size"], "epoch_s": round(ours_s, 2),
             "instances_per_s": round(ours)},
            {"model": "RecBole Caser (CE over all items)", "d": recbole["embedding_size"],
             "epoch_s": round(theirs_s, 2), "instances_per_s": round(theirs)}]
    ratio = round(ours / theirs, 2)
    report("Training throughput, L=5, batch 512", rows, [("ours / RecBole's", ratio, ">= 1.0", ratio >= 1.0)])


if __name__ == "__main__":
    main()
