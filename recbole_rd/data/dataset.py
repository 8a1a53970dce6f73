"""Dataset creation that never downloads and never unpickles, with clear errors."""

import importlib
from pathlib import Path

from recbole.utils import ModelType

from recbole_rd.data.generate import SAMPLE_NAME, write_sample
from recbole_rd.utils import RecBoleRDError

HOW_TO_GET = {
    "foursquare": (
        "the Foursquare check-ins of Yang et al. (TSMC2014: dataset_TSMC2014_NYC.txt)",
        "python -m recbole_rd.data.convert tsmc2014 dataset_TSMC2014_NYC.txt --dataset foursquare\n"
        "  (a 'user item timestamp' table works too: "
        "python -m recbole_rd.data.convert generic checkins.tsv --dataset foursquare)",
    ),
    "gowalla": (
        "the SNAP Gowalla check-ins (loc-gowalla_totalCheckins.txt)",
        "python -m recbole_rd.data.convert snap-gowalla loc-gowalla_totalCheckins.txt --dataset gowalla",
    ),
    **{hub: (f"RecBole's atomic file {hub}.inter (RecBole dataset hub, RecSysDatasets)",
             f"put it at dataset/{hub}/{hub}.inter (it is read as is; no conversion needed)")
       for hub in ("foursquare_NYC", "foursquare_TKY", "gowalla-merged")},
}
_TYPE_TO_CLASS = {
    ModelType.SEQUENTIAL: "SequentialDataset",
    ModelType.KNOWLEDGE: "KnowledgeBasedDataset",
}


class DatasetError(RecBoleRDError, ValueError):
    """The dataset is missing or malformed; the message says how to fix it."""


def inter_file(config):
    return Path(config["data_path"]) / f"{config['dataset']}.inter"


def missing_dataset_message(config):
    name, path = config["dataset"], inter_file(config)
    lines = [f"dataset '{name}' not found: {path} does not exist (recbole_rd never downloads data)."]
    if name in HOW_TO_GET:
        source, command = HOW_TO_GET[name]
        lines += [f"Get {source}, then:", f"  {command}"]
    else:
        lines += ["Put a RecBole atomic file there (columns user_id:token item_id:token timestamp:float),",
                  "or convert a raw dump with: python -m recbole_rd.data.convert --help"]
    lines.append(f"The embedded sample needs nothing: --dataset={SAMPLE_NAME} (or --dataset=ml-100k).")
    return "\n".join(lines)


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
        raise DatasetError(missing_dataset_message(config))
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


def create_dataset(config):
    """RecBole's ``create_dataset`` without its pickle cache and without downloads."""
    check_inter_file(config)
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
    return dataset


def data_preparation(config, dataset):
    """RecBole's ``data_preparation`` with a readable error when sequences are too short."""
    from recbole.data import data_preparation as recbole_data_preparation

    try:
        return recbole_data_preparation(config, dataset)
    except (ValueError, IndexError) as err:
        raise DatasetError(f"could not split '{config['dataset']}' ({config['eval_args']['split']}): {err}. "
                           f"Users need at least 3 interactions for leave-one-out; raise "
                           f"user_inter_num_interval.") from None
