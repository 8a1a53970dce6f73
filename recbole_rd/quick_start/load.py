"""Load a saved model with its data, as ``recbole.quick_start.load_data_and_model`` does, safely.

RecBole's loader unpickles the ``Config`` stored in its checkpoints; recbole_rd's
checkpoints hold the run's config as plain data instead (``run_config``), from which
the dataset, its id mappings and the three dataloaders are rebuilt exactly.
"""

from logging import getLogger

from recbole.utils import init_seed

from recbole_rd.checkpoint import (
    check_same_data,
    dataset_fingerprint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    saved_model_class,
    saved_run_config,
)
from recbole_rd.config import Config
from recbole_rd.data import DatasetError, create_dataset
from recbole_rd.data.split import split_data
from recbole_rd.evaluator import with_settings
from recbole_rd.key_lists import PLACEMENT_KEYS
from recbole_rd.quick_start.dependency_warnings import quiet_dependency_warnings
from recbole_rd.quick_start.run_files import FILE_ONLY, start_logging



def saved_config(saved, model_class, config_dict):
    """The saved run's config: every recorded value, with the placement (device, DDP) of this
    process and the keys of ``config_dict`` resolved as a training run would resolve them."""
    placement = {k: saved[k] for k in ("gpu_id", "use_gpu") if k in saved}
    # the loading script's own command line is no setting of the run that made the checkpoint
    config = Config(model=model_class, dataset=saved["dataset"], config_dict={**placement, **config_dict},
                    reads_command_line=False)
    fresh = config.final_config_dict
    final = {k: v for k, v in saved.items() if k not in PLACEMENT_KEYS}
    final.update({k: fresh[k] for k in (*PLACEMENT_KEYS, *config_dict) if k in fresh})
    config.final_config_dict = final
    return config


def load_data_and_model(model_file, config_dict=None):
    """Load a model saved by recbole_rd, with the filtered dataset and the dataloaders of its run.

    The drop-in for ``recbole.quick_start.load_data_and_model``, for every checkpoint recbole_rd
    writes (its own models and RecBole's, best and ``.last`` files); nothing is unpickled.
    The dataset is rebuilt from the run's recorded config (``data_path``, filtering,
    ``eval_args``, ``eval_protocol``, ``seed`` ...) and checked against the checkpoint's id
    mappings; under ``eval_protocol: paper`` valid and test are ``PeriodEvalData``.

    Args:
        model_file (str): a checkpoint written by recbole_rd.
        config_dict (dict, optional): keys to change, resolved as at training, e.g.
            ``{'data_path': 'NEW/FOLDER'}`` when the data moved (the folder holding
            ``<dataset>/<dataset>.inter``), ``{'gpu_id': ''}`` to load on the CPU.

    Returns:
        tuple: (config, model, dataset, train_data, valid_data, test_data), as RecBole's.

    Raises:
        CheckpointError: the file is missing, corrupt, pickled (RecBole's own checkpoints),
            saved without a run config (older recbole_rd), or its data no longer matches.
        DatasetError: the dataset is not where the run read it.
    """
    quiet_dependency_warnings()
    config_dict = dict(config_dict or {})
    state = load_checkpoint(model_file)
    model_class = saved_model_class(state, model_file)
    config = saved_config(saved_run_config(state, model_file), model_class, config_dict)
    init_seed(config["seed"], config["reproducibility"])
    start_logging(config)
    logger = getLogger()
    logger.info(config, extra=FILE_ONLY)
    try:
        dataset = create_dataset(config)
    except DatasetError as err:
        raise DatasetError(f"{err}\nThe checkpoint's run read its data from {config['data_path']}; if it "
                           f"moved, pass its new folder: load_data_and_model({str(model_file)!r}, "
                           f"config_dict={{'data_path': 'NEW/FOLDER'}}).") from None
    logger.info(dataset, extra=FILE_ONLY)
    train_data, valid_data, test_data = with_settings(config, *split_data(config, dataset))
    check_same_data(state, train_data._dataset, model_file, fix=(
        f"The data under {config['data_path']} changed since training; point data_path at the data "
        f"the model was trained on: load_data_and_model({str(model_file)!r}, config_dict={{'data_path': ...}})."))

    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config, train_data._dataset).to(config["device"])
    load_weights(model, state, model_file)
    return config, model, dataset, train_data, valid_data, test_data


def resave_recbole_checkpoint(checkpoint, model_file):
    """Re-save a RecBole checkpoint that *you* unpickled as a safe recbole_rd checkpoint.

    ``checkpoint`` is the dict of ``torch.load(RECBOLE_FILE, weights_only=False)`` (only for
    files you trust: unpickling runs code stored in the file); its ``config`` rebuilds the
    dataset and the model, and ``model_file`` is written with the weights and the config as
    plain data. Returns ``model_file``.
    """
    config = checkpoint["config"]
    init_seed(config["seed"], config["reproducibility"])
    train_data, _, _ = split_data(config, create_dataset(config))
    model = config.model_class(config, train_data._dataset)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    save_checkpoint(model_file, model, config, dataset_fingerprint(train_data._dataset))
    return model_file
