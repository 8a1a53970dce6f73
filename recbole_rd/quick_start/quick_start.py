"""One-call training and evaluation, mirroring ``recbole.quick_start.run_recbole``."""

import itertools
import os
import sys
from logging import getLogger

from recbole.utils import get_local_time, init_logger, init_seed

from recbole_rd import distributed
from recbole_rd.checkpoint import CheckpointError
from recbole_rd.config import Config
from recbole_rd.data import create_dataset, data_preparation
from recbole_rd.data.paper_protocol import PROTOCOLS, paper_data_preparation
from recbole_rd.distill.teacher import derived_config
from recbole_rd.trainer.distill_trainer import check_distillation_config
from recbole_rd.utils import ConfigError, get_model, get_trainer


_RUNS = itertools.count()


def checkpoint_path(config, tag):
    """A fresh checkpoint file name: model, dataset, tag, time, process id and a counter
    (two runs in the same second of one process must not share a file). In DDP mode
    all ranks get rank 0's name."""
    name = f"{config['model']}-{config['dataset']}-{tag}-{get_local_time()}-{os.getpid()}-{next(_RUNS)}.pth"
    return distributed.broadcast_object(os.path.join(config["checkpoint_dir"], name))


def train_and_test(config, train_data, valid_data, test_data, tag=None, saved=True):
    """Build ``config['model']`` on the training split, fit with early stopping on
    validation, reload the best checkpoint and test. Returns a result dict.

    ``resume_from`` (config key): a ``.last`` checkpoint of an interrupted run to continue.
    """
    logger = getLogger()
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model_class = get_model(config["model"])
    model = model_class(config, train_data._dataset).to(config["device"])
    logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"], model_class)(config, model)
    trainer.saved_model_file = checkpoint_path(config, tag or f"d{config['embedding_size']}")
    if config["resume_from"]:
        trainer.resume_checkpoint(config["resume_from"])
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"])
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    logger.info(f"best valid: {best_valid_result}")
    logger.info(f"test result: {test_result}")
    return {
        "model": config["model"],
        "embedding_size": config["embedding_size"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "checkpoint": trainer.saved_model_file if saved else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainer": trainer,
    }


def teacher_config(config):
    """Config of the teacher of a distilled student: the base model at teacher size."""
    model_class = get_model(config["model"])
    return derived_config(config, model=model_class.teacher_model,
                          embedding_size=config["teacher_embedding_size"])


def prepare(model=None, dataset=None, config_file_list=None, config_dict=None):
    """Config, logger, dataset and the three dataloaders, as RecBole's quick start does."""
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    data = create_dataset(config)
    logger.info(data)
    protocol = config["eval_protocol"] or "recbole"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"eval_protocol: '{protocol}' is not one of {list(PROTOCOLS)}")
    split = paper_data_preparation if protocol == "paper" else data_preparation
    return (config, *split(config, data))


def run_recbole_rd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True):
    """Train and test ``model`` on ``dataset`` like RecBole's ``run_recbole``.

    For a distilled student (``CaserRD``, ``FossilRD``) with no ``teacher_checkpoint``,
    the teacher (base model with ``teacher_embedding_size``) is trained first on
    the same data and used; its result is returned under ``'teacher'``.
    """
    config, train_data, valid_data, test_data = prepare(model, dataset, config_file_list, config_dict)
    teacher = None
    student = getattr(get_model(config["model"]), "teacher_model", None)
    if student:
        check_distillation_config(config, train_data._dataset.item_num)  # before any training
    if student and not config["teacher_checkpoint"]:
        getLogger().info("No teacher_checkpoint given: training the teacher first")
        teacher = train_and_test(teacher_config(config), train_data, valid_data, test_data, tag="teacher")
        config["teacher_checkpoint"] = teacher["checkpoint"]
    result = train_and_test(config, train_data, valid_data, test_data, saved=saved)
    if teacher is not None:
        result["teacher"] = teacher
    return result


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
        nproc=1, world_size=-1, ip="localhost", port=5678, group_offset=0):
    """:func:`run_recbole_rd`, in RecBole's DDP mode when ``nproc > 1`` or ``world_size > 0``
    (like ``recbole.quick_start.run``): ``nproc`` processes on this node, ranks
    ``group_offset..group_offset+nproc-1`` of ``world_size``, meeting at ``ip:port``.
    Returns rank 0's result (without trainer objects), or None on a node without rank 0.
    A configuration or data error in any process is raised here as a ``ValueError``.
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_rd(model, dataset, config_file_list, config_dict, saved)
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = {**(config_dict or {}), "nproc": nproc, "world_size": world_size if world_size > 0 else nproc,
                   "ip": ip, "port": port, "offset": group_offset}
    try:
        mp.spawn(run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue), nprocs=nproc)
    except mp.ProcessRaisedException:
        errors = [message for kind, message in _drain(queue) if kind == "error"]
        if errors:
            raise ValueError(errors[0]) from None
        raise
    results = [message for kind, message in _drain(queue) if kind == "result"]
    return results[0] if results else None


def _drain(queue):
    while not queue.empty():
        yield queue.get()


def run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue=None):
    """One DDP process: :func:`run_recbole_rd` with ``local_rank`` set. Rank 0 puts
    ``('result', result)`` on ``queue`` (trainer objects dropped: they do not cross
    processes); a process stopped by a bad config or data puts ``('error', message)``."""
    try:
        result = run_recbole_rd(model, dataset, config_file_list, {**config_dict, "local_rank": local_rank}, saved)
        if distributed.rank() == 0 and queue is not None:
            queue.put(("result", without_trainers(result)))
        return result
    except (ValueError, CheckpointError) as err:  # bad config, data or checkpoint
        if queue is not None:
            queue.put(("error", f"process {local_rank}: {err}"))
        raise
    finally:
        if distributed.is_distributed():
            distributed.dist.destroy_process_group()


def without_trainers(result):
    """``result`` with the ``trainer`` entries (and the teacher's) dropped."""
    clean = {k: v for k, v in result.items() if k != "trainer"}
    if "teacher" in clean:
        clean["teacher"] = without_trainers(clean["teacher"])
    return clean
