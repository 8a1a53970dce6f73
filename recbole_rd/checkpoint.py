"""Checkpoints that load with ``torch.load(weights_only=True)``: tensors and plain data only.

Each checkpoint records the model class, its hyper-parameters and a fingerprint of
the dataset and its id mappings, so a teacher trained elsewhere is refused early.
"""

import hashlib
import pickle
import zipfile
from pathlib import Path

import torch
from recbole.utils import dataset_arguments, evaluation_arguments, general_arguments, training_arguments

from recbole_rd.utils import RecBoleRDError, atomic_write

FORMAT = "recbole-rd-checkpoint/1"
_RUN_KEYS = set(dataset_arguments + evaluation_arguments + general_arguments + training_arguments)
_RUN_KEYS |= {"device", "local_rank", "single_spec", "MODEL_TYPE", "MODEL_INPUT_TYPE", "eval_type",
              "data_path", "dataset", "valid_neg_sample_args", "test_neg_sample_args", "model"}


class CheckpointError(RecBoleRDError, RuntimeError):
    """A checkpoint is missing, unsafe, corrupt, or made for other data."""


_SKIP = object()


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _SKIP if any(i is _SKIP for i in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _plain(v) for k, v in value.items()}
        return _SKIP if any(v is _SKIP for v in items.values()) else items
    return _SKIP


def model_hyper_parameters(config):
    """The model's own keys of a RecBole config (no paths, devices or run settings)."""
    out = {}
    for key, value in config.final_config_dict.items():
        value = _plain(value)
        if key not in _RUN_KEYS and value is not _SKIP:
            out[key] = value
    out["MAX_ITEM_LIST_LENGTH"] = config["MAX_ITEM_LIST_LENGTH"]
    return out


def _sha(tokens):
    digest = hashlib.sha256()
    for token in tokens:
        digest.update(str(token).encode("utf-8") + b"\0")
    return digest.hexdigest()


def dataset_fingerprint(dataset):
    """Name, sizes and hashes of the user and item id mappings of a RecBole dataset."""
    return {
        "dataset": dataset.dataset_name,
        "n_users": int(dataset.user_num),
        "n_items": int(dataset.item_num),
        "user_map": _sha(dataset.field2id_token[dataset.uid_field]),
        "item_map": _sha(dataset.field2id_token[dataset.iid_field]),
    }


def fingerprint_mismatch(recorded, current):
    """Human-readable list of what differs between two dataset fingerprints."""
    labels = {"dataset": "dataset name", "n_users": "number of users", "n_items": "number of items",
              "user_map": "user-id mapping", "item_map": "item-id mapping"}
    return [f"{labels[k]}: checkpoint {recorded.get(k)!r} vs current {current[k]!r}"
            for k in labels if recorded.get(k) != current[k]]


def save_checkpoint(path, model, config, dataset_fp, **training_state):
    """Write a checkpoint atomically; ``training_state`` holds plain values or tensors."""
    state = {
        "format": FORMAT,
        "model": type(model).__name__,
        "model_module": type(model).__module__,
        "hyper_parameters": model_hyper_parameters(config),
        "dataset": dataset_fp,
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "state_dict": model.state_dict(),
        **training_state,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint safely; raise :class:`CheckpointError` with the fix on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}. Check the path, or train the model first "
                              f"(python run_recbole_rd.py --model=... --dataset=...).")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"refused to load {path}: it holds pickled Python objects, which could run code. "
            f"recbole_rd only loads checkpoints of tensors and plain data; re-save the model with "
            f"recbole_rd (details: {str(err).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else 'no detail'}); "
                              f"delete it and train again.") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a recbole_rd checkpoint (no '{FORMAT}' header); "
                              f"RecBole's own .pth files pickle their Config and cannot be loaded safely.")
    return state


def check_same_data(state, dataset, path, role="checkpoint"):
    """Refuse a checkpoint trained on other data, saying what differs."""
    problems = fingerprint_mismatch(state["dataset"], dataset_fingerprint(dataset))
    if problems:
        raise CheckpointError(
            f"{role} {path} was trained on different data: " + "; ".join(problems)
            + ". Train the teacher on this dataset with the same filtering, or point "
              "teacher_checkpoint at a matching one.")


def load_weights(model, state, path):
    """Load ``state['state_dict']`` into ``model`` with a readable error on mismatch."""
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} holds a {state.get('model')} whose weights do not fit "
                              f"{type(model).__name__} here: {str(err).splitlines()[0]}") from None
