"""The split of ``eval_protocol``: RecBole's leave-one-out or the paper's per-user time split."""

from recbole.utils import ModelType

from recbole_rd.data.dataset import data_preparation
from recbole_rd.data.paper_protocol import PROTOCOLS, paper_data_preparation
from recbole_rd.errors import ConfigError


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
