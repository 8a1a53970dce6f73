"""Checkpoints that load with ``torch.load(weights_only=True)``: tensors and plain data only.

Each checkpoint records the model class, its hyper-parameters and a fingerprint of
the dataset and its id mappings, so a teacher trained elsewhere is refused early.
It also holds the run's full config as plain data (``run_config``: enums by name,
no device), from which :func:`recbole_rd.quick_start.load_data_and_model` rebuilds
the dataset and the split, and the model's ``other_parameter`` (e.g. Pop's counts).
Files of the same format written before ``run_config`` existed still load as teachers.
"""

import enum
import hashlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from recbole.utils import dataset_arguments, enum_type, evaluation_arguments, general_arguments, training_arguments

from recbole_rd.errors import CheckpointError
from recbole_rd.key_lists import RUN_SETTING_KEYS
from recbole_rd.model.registry import RECBOLE_PREFIX, get_model
from recbole_rd.utils import atomic_write

FORMAT = "recbole-rd-checkpoint/1"
_RUN_KEYS = {*dataset_arguments, *evaluation_arguments, *general_arguments, *training_arguments, *RUN_SETTING_KEYS}


_SKIP = object()


def _storable(value):
    """``value`` as data a weights-only torch file holds (numbers, text, lists, dicts of them), else ``_SKIP``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):  # e.g. a hyperopt sample
        return _storable(value.item())
    if isinstance(value, (list, tuple)):
        items = [_storable(v) for v in value]
        return _SKIP if any(i is _SKIP for i in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _storable(v) for k, v in value.items()}
        return _SKIP if any(v is _SKIP for v in items.values()) else items
    return _SKIP


def model_hyper_parameters(config):
    """The model's own keys of a RecBole config (no paths, devices or run settings)."""
    out = {}
    for key, value in config.final_config_dict.items():
        value = _storable(value)
        if key not in _RUN_KEYS and value is not _SKIP:
            out[key] = value
    out["MAX_ITEM_LIST_LENGTH"] = config["MAX_ITEM_LIST_LENGTH"]
    return out


# config values RecBole holds as enums (MODEL_TYPE, MODEL_INPUT_TYPE, eval_type): stored by name
_ENUMS = {name: cls for name, cls in vars(enum_type).items() if isinstance(cls, type) and issubclass(cls, enum.Enum)}
_NOT_STORED = {"device"}  # where the model runs is chosen when it is loaded


def run_config(config):
    """``(values, enums, skipped)``: the run's full config as plain data, enum values by
    name (``enums`` maps their keys to the enum class), keys that are not plain data skipped."""
    values, enums, skipped = {}, {}, []
    for key, value in config.final_config_dict.items():
        if key in _NOT_STORED:
            continue
        if isinstance(value, enum.Enum) and _ENUMS.get(type(value).__name__) is type(value):
            values[key], enums[key] = value.name, type(value).__name__
        elif (plain := _storable(value)) is not _SKIP:
            values[key] = plain
        else:
            skipped.append(key)
    return values, enums, skipped


def saved_run_config(state, path):
    """The run config recorded in checkpoint ``state``, enums restored."""
    if "run_config" not in state:
        raise CheckpointError(
            f"{path} holds no run config: it was saved by an older recbole_rd, which stored the model's "
            f"hyper-parameters only, so its dataset and split cannot be rebuilt. It still works as "
            f"teacher_checkpoint; to load it with load_data_and_model, train the model again with this version.")
    values = dict(state["run_config"])
    for key, enum_name in state.get("run_config_enums", {}).items():
        try:
            values[key] = _ENUMS[enum_name][values[key]]
        except KeyError:
            raise CheckpointError(f"{path}: config key {key!r} holds {values.get(key)!r}, not a member of "
                                  f"RecBole's enum {enum_name!r}; the file is damaged or from another "
                                  f"RecBole version") from None
    return values


def saved_model_class(state, path):
    """The class that wrote checkpoint ``state``: this plugin's or RecBole's model of that name
    (``model_module`` tells them apart: RecBole's Caser is not ours)."""
    name, module = state["model"], state.get("model_module", "recbole_rd.")
    model_class = get_model(name if module.startswith("recbole_rd.") else RECBOLE_PREFIX + name)
    if model_class.__module__ != module and "model_module" in state:
        raise CheckpointError(f"{path} holds a {module}.{name}, but that name resolves to "
                              f"{model_class.__module__}.{name} here; install the package that defines it")
    return model_class


def _other_parameters(model):
    """The model's non-parameter state (RecBole's ``other_parameter``) that is tensors or plain data."""
    out = {}
    for key, value in model.other_parameter().items():
        if isinstance(value, torch.Tensor):
            out[key] = value.detach()
        elif (plain := _storable(value)) is not _SKIP:
            out[key] = plain
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


HASHED = ("user_map", "item_map")  # fingerprint entries that are sha256 digests


def fingerprint_mismatch(recorded, current):
    """Human-readable list of what differs between two dataset fingerprints."""
    labels = {"dataset": "dataset name", "n_users": "number of users", "n_items": "number of items",
              "user_map": "user-id mapping", "item_map": "item-id mapping"}
    return [f"{labels[k]}: checkpoint {recorded.get(k)!r} vs current {current[k]!r}" if k not in HASHED else
            f"{labels[k]} differs (sha256\n    checkpoint {recorded.get(k)}\n    current    {current[k]})"
            for k in labels if recorded.get(k) != current[k]]


def save_checkpoint(path, model, config, dataset_fp, **training_state):
    """Write a checkpoint atomically; ``training_state`` holds plain values or tensors.

    ``config`` (any RecBole ``Config``) is stored whole as plain data (see :func:`run_config`).
    """
    values, enums, skipped = run_config(config)
    state = {
        "format": FORMAT,
        "model": type(model).__name__,
        "model_module": type(model).__module__,
        "hyper_parameters": model_hyper_parameters(config),
        "dataset": dataset_fp,
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "state_dict": model.state_dict(),
        "other_parameter": _other_parameters(model),
        "run_config": values,
        "run_config_enums": enums,
        "run_config_skipped": skipped,
        **training_state,
    }
    atomic_write(path, lambda f: torch.save(state, f))


def is_zip_archive(path):
    """Whether ``path`` starts as a zip archive does (a truncated one too: that is a corrupt checkpoint)."""
    with open(path, "rb") as file:
        return file.read(4) == b"PK\x03\x04"


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint safely; raise :class:`CheckpointError` with the fix on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}. Check the path, or train the model first "
                              f"(python run_recbole_rd.py --model=... --dataset=...).")
    if not is_zip_archive(path):  # every torch.save since torch 1.6 writes a zip archive
        raise CheckpointError(f"{path} is not a checkpoint (not a torch .pth archive, e.g. a data file); "
                              f"give a .pth file written by recbole_rd (saved/<model>-<dataset>-....pth)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        refused = [line.strip() for line in str(err).splitlines() if "GLOBAL" in line]
        raise CheckpointError(pickled_file_message(path, refused[0]) if refused else corrupt_file_message(path, err)
                              ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(corrupt_file_message(path, err)) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a recbole_rd checkpoint (no '{FORMAT}' header); "
                              f"RecBole's own .pth files pickle their Config and cannot be loaded safely.")
    return state


def corrupt_file_message(path, err):
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    # torch's weights-only failures wrap the cause in advice about weights_only: keep the cause
    detail = next((line for line in lines if "weights_only" not in line.lower().replace(" ", "_")
                   and "documentation" not in line), lines[0] if lines else "no detail")
    return f"checkpoint {path} is truncated or corrupt ({type(err).__name__}: {detail}); delete it and train again."


def pickled_file_message(path, refused_global):
    """Why a file of pickled objects is refused (``refused_global``: torch's line naming
    the object), and the two ways out."""
    return (
        f"refused to load {path}: it holds pickled Python objects ({refused_global}), as RecBole's own checkpoints do "
        f"(they pickle the whole Config). torch >= 2.6 refuses such files by default, and unpickling one "
        f"could run any code it carries. recbole_rd loads only checkpoints of tensors and plain data. "
        f"Either train the model again with recbole_rd (python run_recbole_rd.py --model=... --dataset=...), "
        f"or, only if you trust the file and where it came from, unpickle it yourself once and re-save it "
        f"with recbole_rd: import torch; from recbole_rd.quick_start import resave_recbole_checkpoint; "
        f"resave_recbole_checkpoint(torch.load({str(path)!r}, weights_only=False), 'NEW.pth'); then load "
        f"NEW.pth with recbole_rd.quick_start.load_data_and_model('NEW.pth').")


TEACHER_DATA_FIX = ("Train the teacher on this dataset with the same filtering, or point teacher_checkpoint "
                    "at a matching one.")


def check_same_data(state, dataset, path, role="checkpoint", fix=TEACHER_DATA_FIX):
    """Refuse a checkpoint trained on other data, saying what differs and ``fix``."""
    problems = fingerprint_mismatch(state["dataset"], dataset_fingerprint(dataset))
    if problems:
        raise CheckpointError(f"{role} {path} was trained on different data:\n  " + "\n  ".join(problems) + "\n" + fix)


def check_same_split(state, config, path, role="teacher checkpoint"):
    """Refuse a checkpoint whose run split the data otherwise than ``config`` (a teacher trained under
    another protocol or split has seen this run's test items) or cut other windows; keys the checkpoint
    does not record are not checked."""
    recorded = dict(state.get("run_config", {}))
    if "eval_protocol" in recorded:
        recorded["eval_protocol"] = recorded["eval_protocol"] or "recbole"
    current = {"eval_protocol": config["eval_protocol"] or "recbole", "paper_split": config["paper_split"],
               "eval_args": config["eval_args"], "MAX_ITEM_LIST_LENGTH": config["MAX_ITEM_LIST_LENGTH"]}
    split = "paper_split" if current["eval_protocol"] == "paper" else "eval_args"
    problems = [f"{key}: checkpoint {recorded[key]!r} vs this run {current[key]!r}"
                for key in ("eval_protocol", split, "MAX_ITEM_LIST_LENGTH")
                if key in recorded and _storable(current[key]) != recorded[key]]
    if problems:
        raise CheckpointError(f"{role} {path} was trained on another split or window: " + "; ".join(problems)
                              + ". A teacher must see exactly this run's training data (else it has seen test "
                              "items) and windows: train it with these settings (e.g. "
                              "--eval_protocol=" + current["eval_protocol"] + "), or run with the checkpoint's.")


def load_weights(model, state, path):
    """Load ``state['state_dict']`` (and the ``other_parameter`` it records) into ``model``
    with a readable error on mismatch."""
    try:
        model.load_state_dict(state["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"{path} holds a {state.get('model')} whose weights do not fit "
                              f"{type(model).__name__} here: {str(err).splitlines()[0]}") from None
    other = state.get("other_parameter")
    if other:
        device = next(model.parameters()).device
        model.load_other_parameter({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in other.items()})
