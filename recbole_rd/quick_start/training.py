"""Train one model with early stopping on validation, reload its best checkpoint and test it."""

import logging
import os
import time
from logging import getLogger

from recbole.utils import init_seed

from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.errors import RunInterrupted, TrainingDiverged
from recbole_rd.quick_start.refusals import refusals_as_config_errors
from recbole_rd.quick_start.run_files import FILE_ONLY, checkpoint_path
from recbole_rd.trainer import get_trainer
from recbole_rd.trainer.trainer import LAST_SUFFIX
from recbole_rd.utils import size_key


def train_and_test(config, train_data, valid_data, test_data, tag=None, saved=True):
    """Build ``config['model']`` on the training split, fit with early stopping on
    validation, reload the best checkpoint and test. Returns a result dict (``best_epoch`` is
    0-based; ``test_per_user``: each test user's value of every top-k metric, in DDP mode this rank's
    users only; ``summary`` is the line logged at the end).

    ``resume_from`` (config key): a ``.last`` checkpoint of an interrupted run to continue.
    """
    logger = getLogger()
    start = time.perf_counter()
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model_class = config.model_class
    with refusals_as_config_errors(config["model"]):
        model = model_class(config, train_data._dataset).to(config["device"])
    parameters = sum(p.numel() for p in model.parameters())
    logger.info(f"training {config['model']}{f' ({tag})' if tag else ''}: {parameters:,} parameters")
    logger.info(model, extra=FILE_ONLY)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"], model_class)(config, model)
    trainer.saved_model_file = checkpoint_path(config, tag)
    if config["resume_from"]:
        trainer.resume_checkpoint(config["resume_from"])
    try:
        best_valid_score, best_valid_result, best_epoch = _fit(trainer, config, train_data, valid_data, saved)
    except KeyboardInterrupt:
        raise interrupted(trainer, config, tag) from None
    test_result, test_per_user = trainer.evaluate_with_users(test_data, load_best_model=saved,
                                                             show_progress=config["show_progress"])
    key = size_key(model_class, config)
    result = {
        "model": config["model"],
        "embedding_size": config["embedding_size"],
        "d": config[key] if key else None,
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "best_epoch": best_epoch,
        "test_result": test_result,
        "test_per_user": test_per_user,
        "checkpoint": trainer.saved_model_file if saved else None,
        "parameters": parameters,
        "trainer": trainer,
    }
    if best_epoch is None and saved:  # resumed, and no better epoch since: the checkpoint knows
        result["best_epoch"] = load_checkpoint(trainer.saved_model_file).get("epoch")
    result["seconds"] = time.perf_counter() - start
    result["summary"] = summary_line(result, result["seconds"])
    logger.info(f"best valid: {dict(best_valid_result or {})}", extra=FILE_ONLY)
    logger.info(result["summary"])
    result["summary_logged"] = logger.isEnabledFor(logging.INFO)
    return result


def _fit(trainer, config, train_data, valid_data, saved):
    """``trainer.fit``; returns ``(best valid score, best valid result, best epoch)``."""
    best = {}

    def note_best(epoch, _score):
        if trainer.cur_step == 0:  # RecBole's early stopping resets it when the score improves
            best["epoch"] = epoch

    try:
        score, result = trainer.fit(train_data, valid_data, saved=saved, show_progress=config["show_progress"],
                                    callback_fn=note_best)
    except ValueError as err:
        if str(err) != "Training loss is nan":  # RecBole's words
            raise
        raise TrainingDiverged(f"{config['model']}: the training loss became NaN; lower learning_rate "
                          f"(now {config['learning_rate']})") from None
    return score, result, best.get("epoch")


def interrupted(trainer, config, tag=None):
    """:class:`RunInterrupted` of a model stopped while training: it resumes from the ``.last`` state
    its trainer wrote after its last evaluated epoch (none before the first)."""
    last = trainer.saved_model_file + LAST_SUFFIX
    what = f"{config['model']}{f' ({tag})' if tag else ''} was interrupted"
    if os.path.isfile(last):
        return RunInterrupted({"resume_from": last}, f"{what}; its state after the last evaluated epoch is in {last}")
    return RunInterrupted({}, f"{what} before its first evaluated epoch: nothing was kept to resume from")


def summary_line(result, seconds):
    """One line closing a model's run: best epoch, test metrics, checkpoint, time."""
    epoch = "?" if result["best_epoch"] is None else result["best_epoch"]
    saved = f", checkpoint {result['checkpoint']}" if result["checkpoint"] else ""
    metrics = {key: float(value) for key, value in result["test_result"].items()}  # no np.float64(...) reprs
    return f"{result['model']} done: best epoch {epoch}, test result: {metrics}{saved}, {seconds:.1f} s"
