"""One-call training and evaluation, mirroring ``recbole.quick_start.run_recbole``: :func:`run_recbole_rd`
(prepare, the teacher first when a student has none, train and test), then :func:`prepare`. The parts
live beside it: ``training``, ``teacher_plan``, ``run_files``, ``refusals``; the split in
:mod:`recbole_rd.data.split`; DDP in ``distributed_run``."""

import sys
from logging import getLogger

import torch
from recbole.utils import init_seed

from recbole_rd.config import OWN_DATA_NOTE
from recbole_rd.data.dataset import check_dataset, create_dataset
from recbole_rd.data.split import protocol_split
from recbole_rd.errors import RunInterrupted
from recbole_rd.evaluator import with_settings
from recbole_rd.model.registry import ANOMALY_NOTE
from recbole_rd.quick_start.dependency_warnings import quiet_dependency_warnings
from recbole_rd.quick_start.refusals import build_config
from recbole_rd.quick_start.run_files import FILE_ONLY, make_run_dirs, start_logging
from recbole_rd.quick_start.teacher_plan import check_teacher_model, ensure_teacher
from recbole_rd.quick_start.training import train_and_test


def run_recbole_rd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
                   reads_command_line=True):
    """Train and test ``model`` on ``dataset`` like RecBole's ``run_recbole``.

    For a distilled student (``CaserRD``, ``FossilRD``, ``SASRecRD``, ...) with no
    ``teacher_checkpoint``, the teacher (:func:`ensure_teacher`) is trained first on the
    same data and used; its result is returned under ``'teacher'``. ``reads_command_line``: as
    RecBole, ``sys.argv``'s ``--key=value`` settings are read (False: they came in ``config_dict``).
    """
    quiet_dependency_warnings()
    config, train_data, valid_data, test_data = prepare(model, dataset, config_file_list, config_dict,
                                                        reads_command_line)
    _, teacher = ensure_teacher(config, train_data, valid_data, test_data)
    try:
        result = train_and_test(config, train_data, valid_data, test_data, saved=saved)
    except RunInterrupted as stop:
        if teacher is not None:  # the student resumes with the teacher trained here
            stop.resume_flags["teacher_checkpoint"] = teacher["checkpoint"]
        raise
    if teacher is not None:
        result["teacher"] = teacher
    return result


def prepare(model=None, dataset=None, config_file_list=None, config_dict=None, reads_command_line=True):
    """Config, logger, dataset and the three dataloaders, as RecBole's quick start does.

    The config, the split's protocol and the dataset's file are checked before ``log/`` and
    ``checkpoint_dir`` are created (a refused run leaves no folders behind). The command line and
    the full configuration go to the log file only (``log/<model>/``).
    """
    quiet_dependency_warnings()
    config = build_config(model, dataset, config_file_list, config_dict, reads_command_line)
    split = protocol_split(config)
    check_dataset(config)
    check_teacher_model(config)
    init_seed(config["seed"], config["reproducibility"])
    make_run_dirs(config)
    start_logging(config)
    logger = getLogger()
    logger.info(sys.argv, extra=FILE_ONLY)
    logger.info(config, extra=FILE_ONLY)
    if not config.dataset_described:
        logger.info(OWN_DATA_NOTE.format(dataset=config["dataset"]))
    if torch.is_anomaly_enabled():
        logger.warning(ANOMALY_NOTE)
    data = create_dataset(config)
    logger.info(data)
    return (config, *with_settings(config, *split(config, data)))
