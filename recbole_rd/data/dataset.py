"""Dataset creation that never downloads and never unpickles, with clear errors."""

import importlib
from logging import getLogger
from pathlib import Path

import pandas as pd
from recbole.utils import ModelType

from recbole_rd.data.sample import SAMPLE_NAME, write_sample
from recbole_rd.data.sources import missing_dataset_message
from recbole_rd.errors import ConfigError, DatasetError
from recbole_rd.key_lists import PICKLE_CACHE_KEYS

_TYPE_TO_CLASS = {
    ModelType.SEQUENTIAL: "SequentialDataset",
    ModelType.KNOWLEDGE: "KnowledgeBasedDataset",
}


def inter_file(config):
    return Path(config["data_path"]) / f"{config['dataset']}.inter"


def check_inter_file(config):
    """Make sure ``data_path/dataset.inter`` exists, is not empty and has the id columns.

    The embedded sample is generated (seeded) when absent.
    """
    path = inter_file(config)
    if config["benchmark_filename"]:
        return
    if not path.is_file() and config["dataset"] == SAMPLE_NAME:
        write_sample(path.parent)
    if not path.is_file():
        raise DatasetError(missing_dataset_message(config["dataset"], path))
    with open(path, encoding=config["encoding"] or "utf-8") as f:
        header = f.readline().rstrip("\r\n")
        first = f.readline()
    if not header or not first.strip():
        raise DatasetError(f"{path} is empty: it needs a header and at least one interaction")
    columns = [c.split(":")[0] for c in header.split(config["field_separator"] or "\t")]
    needed = [config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]]
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        needed.append(config["TIME_FIELD"])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {missing}; its header has {columns}. "
                           f"Rename the columns or set USER_ID_FIELD / ITEM_ID_FIELD / TIME_FIELD.")
    load_col = config["load_col"]
    loaded = list(load_col.get("inter") or []) if isinstance(load_col, dict) else None  # None: all columns
    unloaded = [c for c in needed if loaded is not None and c not in loaded]
    if unloaded:  # RecBole's default load_col has no time column: sequences would fail to build
        raise ConfigError(f"load_col: its 'inter' list {loaded} leaves out {unloaded}, which {config['model']} "
                          f"needs; add them: --load_col=\"{{'inter': {loaded + unloaded}}}\" "
                          f"or a load_col entry in the dataset's YAML")


def refuse_pickle_caches(config):
    """ConfigError if any of :data:`PICKLE_CACHE_KEYS` is set: RecBole would save the
    dataset or dataloaders as pickles and unpickle them on later runs."""
    for key in PICKLE_CACHE_KEYS:
        if config[key]:
            raise ConfigError(
                f"{key}: {config[key]!r} is not supported: RecBole saves datasets and dataloaders as pickles, "
                f"and loading a pickle runs any code planted in the file. recbole_rd never unpickles; it "
                f"rebuilds the dataset from the .inter file on every run instead. Remove {key}.")


def sort_by_user_and_time(dataset):
    """Sort the interactions by user, then time, in float64, stably (equal times keep the
    file order). RecBole sorts them again later, on float32 copies of the times, whose
    step at 1.3e9 (Unix seconds today) is 128 s; on already sorted rows its stable sort
    keeps this exact order."""
    feat, uid, time = dataset.inter_feat, dataset.uid_field, dataset.time_field
    if isinstance(feat, pd.DataFrame) and time in feat.columns:
        dataset.inter_feat = feat.sort_values([uid, time], kind="stable", ignore_index=True)


def check_dataset(config):
    """What can be checked of the dataset before it is read: no pickle caches, the ``.inter`` file's
    presence and header."""
    refuse_pickle_caches(config)
    check_inter_file(config)


def create_dataset(config):
    """RecBole's ``create_dataset`` without its pickle cache and without downloads.

    Config keys ``save_dataset`` and ``dataset_save_path`` are refused (pickles).
    Sequential datasets come sorted by user and exact time.
    """
    check_dataset(config)
    module = importlib.import_module("recbole.data.dataset")
    name = config["model"] + "Dataset"
    cls = getattr(module, name) if hasattr(module, name) else getattr(
        module, _TYPE_TO_CLASS.get(config["MODEL_TYPE"], "Dataset"))
    try:
        dataset = cls(config)
    except (ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"could not read dataset '{config['dataset']}' from {config['data_path']}: "
                           f"{type(err).__name__}: {err}. Check the .inter header types "
                           f"(e.g. item_id:token, timestamp:float) and the filtering keys.") from None
    if dataset.inter_num == 0:
        raise DatasetError(f"dataset '{config['dataset']}' has no interactions left after filtering "
                           f"(user_inter_num_interval={config['user_inter_num_interval']}, "
                           f"item_inter_num_interval={config['item_inter_num_interval']}); relax them")
    if config["MODEL_TYPE"] == ModelType.SEQUENTIAL:
        sort_by_user_and_time(dataset)
    return dataset


def build_dataloaders(config, dataset):
    """(train, valid, test) dataloaders as RecBole's ``data_preparation`` builds them,
    without its load and save steps (``load_split_dataloaders`` unpickles
    ``checkpoint_dir/<dataset>-for-<model>-dataloader.pth`` whenever it exists)."""
    from recbole.data.utils import create_samplers, get_dataloader

    built = dataset.build()
    samplers = create_samplers(config, dataset, built)
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        from recbole.sampler import KGSampler

        neg = config["train_neg_sample_args"]
        train_args, shuffle = (KGSampler(dataset, neg["distribution"], neg["alpha"]),), True
    else:
        train_args, shuffle = (), config["shuffle"]
    train = get_dataloader(config, "train")(config, built[0], samplers[0], *train_args, shuffle=shuffle)
    valid, test = (get_dataloader(config, phase)(config, data, sampler, shuffle=False)
                   for phase, data, sampler in zip(("valid", "test"), built[1:], samplers[1:]))
    getLogger().info(f"[Training]: train_batch_size = [{config['train_batch_size']}] train_neg_sample_args: "
                     f"[{config['train_neg_sample_args']}]; [Evaluation]: eval_batch_size = "
                     f"[{config['eval_batch_size']}] eval_args: [{config['eval_args']}]")
    return train, valid, test


def data_preparation(config, dataset):
    """RecBole's ``data_preparation`` without pickles, with a readable error when
    sequences are too short. Config keys ``save_dataloaders`` and
    ``dataloaders_save_path`` are refused."""
    refuse_pickle_caches(config)
    try:
        return build_dataloaders(config, dataset)
    except (ValueError, IndexError) as err:
        raise DatasetError(f"could not split '{config['dataset']}' ({config['eval_args']['split']}): {err}. "
                           f"Users need at least 3 interactions for leave-one-out; raise "
                           f"user_inter_num_interval.") from None
