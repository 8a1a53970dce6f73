"""One-call training and evaluation, mirroring ``recbole.quick_start.run_recbole``."""

import itertools
import logging
import os
import sys
import time
import traceback
from contextlib import contextmanager
from logging import getLogger

import yaml
from recbole.utils import ModelType, get_local_time, init_logger, init_seed

from recbole_rd import distributed
from recbole_rd.checkpoint import load_checkpoint
from recbole_rd.errors import RunInterrupted
from recbole_rd.config import OWN_DATA_NOTE, Config
from recbole_rd.data.dataset import check_dataset, create_dataset, data_preparation
from recbole_rd.data.paper_protocol import PROTOCOLS, paper_data_preparation
from recbole_rd.distill.base import build_method
from recbole_rd.distill.teacher import derived_config
from recbole_rd.quick_start.dependency_warnings import quiet_dependency_warnings
from recbole_rd.trainer import get_trainer
from recbole_rd.trainer.trainer import LAST_SUFFIX
from recbole_rd.utils import ConfigError, RecBoleRDError, TrainingDiverged, get_model, size_key

_RUNS = itertools.count()

LOG_DIR = "log"  # RecBole's init_logger writes log/<model>/
# what RecBole raises on a bad user setting while it reads the configuration or builds a model
REFUSALS = (ValueError, KeyError, TypeError, SyntaxError, NotImplementedError, OSError, yaml.YAMLError)


class DistributedRunError(RecBoleRDError):
    """A process of a DDP run stopped on one of this package's errors (config, data, checkpoint);
    the message starts with ``process N:``."""


def raised_by_recbole(err):
    """Whether the innermost frame of ``err`` that belongs to recbole or recbole_rd is RecBole's."""
    frames = [frame.f_globals.get("__name__", "") for frame, _ in traceback.walk_tb(err.__traceback__)]
    ours = [name for name in frames if name.split(".")[0] in ("recbole", "recbole_rd")]
    return bool(ours) and ours[-1].split(".")[0] == "recbole"


@contextmanager
def refusals_as_config_errors(what):
    """Turn RecBole's refusal of a setting (a ``ValueError`` etc. raised inside RecBole) into a
    :class:`ConfigError` naming ``what``; errors from anywhere else keep their traceback."""
    try:
        yield
    except RecBoleRDError:
        raise
    except REFUSALS as err:
        if not raised_by_recbole(err):
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise ConfigError(f"{what}: {message}") from None


def build_config(model=None, dataset=None, config_file_list=None, config_dict=None):
    """:class:`recbole_rd.config.Config`; what RecBole refuses becomes a :class:`ConfigError`."""
    with refusals_as_config_errors("invalid configuration"):
        return Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)


def make_run_dirs(config):
    """Create ``log/<model>`` and ``checkpoint_dir`` if missing. RecBole checks, then creates them
    (``ensure_dir``), so two DDP processes starting in an empty folder race (FileExistsError);
    ``exist_ok`` is safe in every process. (TensorBoard creates ``log_tensorboard/`` with ``exist_ok``;
    the teacher cache, datasets and results are written through ``atomic_write``, which does too.)"""
    for path in (os.path.join(LOG_DIR, config["model"]), config["checkpoint_dir"]):
        os.makedirs(path, exist_ok=True)


FILE_ONLY = {"file_only": True}  # ``extra`` of a log record meant for the log file, not the console


def _not_file_only(record):
    return not getattr(record, "file_only", False)


def keep_file_only_records_off_console():
    """Console handlers of the root logger skip records logged with ``extra=FILE_ONLY``."""
    for handler in getLogger().handlers:
        if (isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
                and _not_file_only not in handler.filters):
            handler.addFilter(_not_file_only)


def model_class_of(config):
    """The model class ``config`` was built for: ``config.model_class`` while its name is
    ``config['model']`` (``recbole.Caser`` is stored as ``Caser`` with RecBole's class), else
    :func:`get_model` of the name (a :func:`derived_config` that changed ``model`` keeps the
    original's ``model_class``)."""
    stored = getattr(config, "model_class", None)
    if stored is not None and stored.__name__ == config["model"]:
        return stored
    return get_model(config["model"])


def checkpoint_path(config, tag=None):
    """A fresh checkpoint file name saying what it holds: model, dataset, ``tag`` (a role such as
    ``teacher``), width (``d<size>``), then time, process id and a counter (two runs in the same
    second of one process must not share a file). In DDP mode all ranks get rank 0's name."""
    key = size_key(model_class_of(config), config)
    parts = [config["model"], config["dataset"], tag if tag and tag != config["model"] else None,
             f"d{config[key]}" if key else None, get_local_time(), str(os.getpid()), str(next(_RUNS))]
    name = "-".join(part for part in parts if part) + ".pth"
    return distributed.broadcast_object(os.path.join(config["checkpoint_dir"], name))


def summary_line(result, seconds):
    """One line closing a model's run: best epoch, test metrics, checkpoint, time."""
    epoch = "?" if result["best_epoch"] is None else result["best_epoch"]
    saved = f", checkpoint {result['checkpoint']}" if result["checkpoint"] else ""
    metrics = {key: float(value) for key, value in result["test_result"].items()}  # no np.float64(...) reprs
    return f"{result['model']} done: best epoch {epoch}, test result: {metrics}{saved}, {seconds:.1f} s"


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


def train_and_test(config, train_data, valid_data, test_data, tag=None, saved=True):
    """Build ``config['model']`` on the training split, fit with early stopping on
    validation, reload the best checkpoint and test. Returns a result dict (``best_epoch`` is
    0-based; ``summary`` is the line logged at the end).

    ``resume_from`` (config key): a ``.last`` checkpoint of an interrupted run to continue.
    """
    logger = getLogger()
    start = time.perf_counter()
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model_class = model_class_of(config)
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
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
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


def interrupted(trainer, config, tag=None):
    """:class:`RunInterrupted` of a model stopped while training: it resumes from the ``.last`` state
    its trainer wrote after its last evaluated epoch (none before the first)."""
    last = trainer.saved_model_file + LAST_SUFFIX
    what = f"{config['model']}{f' ({tag})' if tag else ''} was interrupted"
    if os.path.isfile(last):
        return RunInterrupted({"resume_from": last}, f"{what}; its state after the last evaluated epoch is in {last}")
    return RunInterrupted({}, f"{what} before its first evaluated epoch: nothing was kept to resume from")


def teacher_model_name(config):
    """The teacher's model for distilled student ``config``: the config key ``teacher_model``, by
    default the student class's ``teacher_model`` (its base model); None for a model that is no student."""
    base = getattr(model_class_of(config), "teacher_model", None)
    return (config["teacher_model"] or base) if base else None


# keys a teacher of another architecture takes from its student: the shared split, windows,
# evaluation, training budget and where things go
SHARED_WITH_TEACHER = ("seed", "reproducibility", "MAX_ITEM_LIST_LENGTH", "eval_protocol", "paper_split",
                       "eval_args", "metrics", "topk", "metric_decimal_place", "valid_metric", "eval_batch_size",
                       "epochs", "stopping_step", "eval_step", "checkpoint_dir", "gpu_id", "use_gpu",
                       "show_progress", "state")


def sibling_config(name, config, shared_keys):
    """A fresh :class:`Config` of model ``name`` beside run ``config`` (another teacher, a baseline):
    ``name``'s own properties, the user's settings of ``config`` (files, ``config_dict``, command
    line; ``data_path`` as given, not RecBole's ``<data_path>/<dataset>``), the values of ``config``
    at ``shared_keys``, and no sampled negatives (the training data is shared)."""
    given = {k: v for k, v in config.external_config_dict.items() if k not in ("model", "dataset")}
    shared = {k: config[k] for k in shared_keys if k in config.final_config_dict and k != "data_path"}
    return build_config(name, config["dataset"], config_dict={**given, **shared, "train_neg_sample_args": None})


def teacher_config(config):
    """Config of the teacher of distilled student ``config``, at teacher size: the size key of the
    teacher's class (``size_key``, else ``embedding_size``/``hidden_size``) is set to
    ``teacher_embedding_size``.

    The teacher is ``teacher_model`` (config key; default: the student class's ``teacher_model``).
    The student's own base model shares the student's config; another architecture (e.g. a SASRec
    teacher for CaserRD) gets a fresh :class:`Config` with its own properties, the user's settings
    and the student's :data:`SHARED_WITH_TEACHER` keys (same split, windows, evaluation and budget).
    """
    student_class = model_class_of(config)
    name = teacher_model_name(config)
    if get_model(name) is get_model(student_class.teacher_model):
        key = getattr(student_class, "size_key", None) or "embedding_size"
        return derived_config(config, model=name, **{key: config["teacher_embedding_size"]})
    teacher = sibling_config(name, config, SHARED_WITH_TEACHER)
    if str(teacher["loss_type"]).upper() == "BPR":
        raise ConfigError(f"teacher_model: {name} with loss_type BPR needs sampled negatives, which the "
                          f"student's training data has none of; pass --loss_type=CE or another teacher_model")
    key = size_key(get_model(name), teacher)
    if key:
        teacher[key] = config["teacher_embedding_size"]
    return teacher


def ensure_teacher(config, train_data, valid_data, test_data, teacher=None):
    """The teacher of distilled student ``config``: ``(checkpoint path, teacher result)``.

    Checks the student's distillation keys first (before any training). With ``teacher_checkpoint``
    set, that checkpoint is used and the result is None; else the teacher is trained and tested on
    the same data (:func:`train_and_test`, its ``trainer`` included) and ``config['teacher_checkpoint']``
    is set to it. ``teacher``: the teacher's config (default :func:`teacher_config` of ``config``).
    A ``resume_from`` holding the teacher's model (an interrupted teacher's ``.last``) resumes the
    teacher, and the student starts afresh.
    ``(None, None)`` for a model that is no student.
    """
    if teacher_model_name(config) is None:
        return None, None
    build_method(config, train_data._dataset.item_num)
    if config["teacher_checkpoint"]:
        return config["teacher_checkpoint"], None
    getLogger().info("No teacher_checkpoint given: training the teacher first")
    teacher = teacher or teacher_config(config)
    resume = config["resume_from"]
    resumes_teacher = bool(resume) and load_checkpoint(resume).get("model") == teacher["model"]
    teacher["resume_from"] = resume if resumes_teacher else None  # a resume_from is the teacher's or the student's
    if resumes_teacher:
        config["resume_from"] = None
    teacher = train_and_test(teacher, train_data, valid_data, test_data, tag="teacher")
    config["teacher_checkpoint"] = teacher["checkpoint"]
    return teacher["checkpoint"], teacher


def protocol_split(config):
    """The split of ``eval_protocol``: RecBole's ``data_preparation`` (``recbole``, its ``eval_args``,
    the default) or ``paper_data_preparation`` (the paper's time split, sequential models only).
    Checks the config alone, so a bad protocol is refused before the dataset is built."""
    protocol = config["eval_protocol"] or "recbole"
    if protocol not in PROTOCOLS:
        raise ConfigError(f"eval_protocol: '{protocol}' is not one of {list(PROTOCOLS)}")
    if protocol == "paper" and config["MODEL_TYPE"] != ModelType.SEQUENTIAL:
        raise ConfigError(f"eval_protocol: paper splits each user's sequence, and {config['model']} is not a "
                          f"sequential model; run it as a baseline of --compare (--baselines={config['model']}), "
                          f"which evaluates it on the sequential split, or with eval_protocol: recbole")
    return paper_data_preparation if protocol == "paper" else data_preparation


def split_data(config, dataset):
    """(train, valid, test) dataloaders of ``dataset`` under ``eval_protocol`` (:func:`protocol_split`)."""
    return protocol_split(config)(config, dataset)


def prepare(model=None, dataset=None, config_file_list=None, config_dict=None):
    """Config, logger, dataset and the three dataloaders, as RecBole's quick start does.

    The config, the split's protocol and the dataset's file are checked before ``log/`` and
    ``checkpoint_dir`` are created (a refused run leaves no folders behind). The command line and
    the full configuration go to the log file only (``log/<model>/``).
    """
    quiet_dependency_warnings()
    config = build_config(model, dataset, config_file_list, config_dict)
    split = protocol_split(config)
    check_dataset(config)
    init_seed(config["seed"], config["reproducibility"])
    make_run_dirs(config)
    init_logger(config)
    keep_file_only_records_off_console()
    logger = getLogger()
    logger.info(sys.argv, extra=FILE_ONLY)
    logger.info(config, extra=FILE_ONLY)
    if not config.dataset_described:
        logger.info(OWN_DATA_NOTE.format(dataset=config["dataset"]))
    data = create_dataset(config)
    logger.info(data)
    return (config, *split(config, data))


def run_recbole_rd(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True):
    """Train and test ``model`` on ``dataset`` like RecBole's ``run_recbole``.

    For a distilled student (``CaserRD``, ``FossilRD``, ``SASRecRD``, ...) with no
    ``teacher_checkpoint``, the teacher (:func:`ensure_teacher`) is trained first on the
    same data and used; its result is returned under ``'teacher'``.
    """
    quiet_dependency_warnings()
    config, train_data, valid_data, test_data = prepare(model, dataset, config_file_list, config_dict)
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


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
        nproc=1, world_size=-1, ip="localhost", port=5678, group_offset=0):
    """:func:`run_recbole_rd`, in RecBole's DDP mode when ``nproc > 1`` or ``world_size > 0``
    (like ``recbole.quick_start.run``): ``nproc`` processes on this node, ranks
    ``group_offset..group_offset+nproc-1`` of ``world_size``, meeting at ``ip:port``.
    Returns rank 0's result (without trainer objects), or None on a node without rank 0.

    A process stopped by one of this package's errors (bad config, data or checkpoint) is
    raised here as :class:`DistributedRunError` (``process N: ...``); any other failure of a
    process propagates as torch's ``ProcessRaisedException``, which carries its traceback.
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_rd(model, dataset, config_file_list, config_dict, saved)
    import torch.multiprocessing as mp

    queue = mp.get_context("spawn").SimpleQueue()
    config_dict = {**(config_dict or {}), "nproc": nproc, "world_size": world_size if world_size > 0 else nproc,
                   "ip": ip, "port": port, "offset": group_offset}
    try:
        mp.spawn(run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue), nprocs=nproc)
    except mp.ProcessRaisedException as failure:
        errors = {rank: message for kind, rank, message in _drain(queue) if kind == "error"}
        if failure.error_index in errors:  # the process that stopped first stopped on our error
            raise DistributedRunError(f"process {failure.error_index}: {errors[failure.error_index]}") from None
        raise
    results = [message for kind, _, message in _drain(queue) if kind == "result"]
    return results[0] if results else None


def _drain(queue):
    while not queue.empty():
        yield queue.get()


def run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue=None):
    """One DDP process: :func:`run_recbole_rd` with ``local_rank`` set. Rank 0 puts
    ``('result', 0, result)`` on ``queue`` (trainer objects dropped: they do not cross
    processes); a process stopped by one of this package's errors puts ``('error', local_rank, message)``."""
    try:
        result = run_recbole_rd(model, dataset, config_file_list, {**config_dict, "local_rank": local_rank}, saved)
        if distributed.rank() == 0 and queue is not None:
            queue.put(("result", local_rank, without_trainers(result)))
        return result
    except RecBoleRDError as err:  # bad config, data or checkpoint
        if queue is not None:
            queue.put(("error", local_rank, str(err)))
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
