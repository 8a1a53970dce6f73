"""RecBole ``Config`` that resolves this plugin's models and loads its properties."""

import copy
import os
from pathlib import Path

import recbole.config
import torch
import yaml
from recbole.config import Config as RecBoleConfig
from recbole.utils import ModelType

from recbole_rd import distributed
from recbole_rd.config_values import check_values
from recbole_rd.model.abstract_recommender import WindowRecommender, is_student
from recbole_rd.model.registry import get_model, is_plugin_model
from recbole_rd.utils import ConfigError, properties_dir

OWN_DATA_NOTE = ("dataset {dataset}: no properties/dataset/{dataset}.yaml, so every column of its files is read "
                 "and no user or item is filtered out; the paper's cold-start filter is opt-in: "
                 "--user_inter_num_interval='[10,inf)' --item_inter_num_interval='[10,inf)'")


def model_properties_files(model_class, model, props):
    """The YAML files of a plugin model, loaded after ``overall.yaml`` in this order."""
    base = model_class.teacher_model if is_student(model_class) else None
    files = [props / "distill.yaml"] if base else []
    declared = getattr(model_class, "properties_files", None)
    if declared:
        return files + list(declared)
    if base:
        files.append(props / "model" / f"{base}.yaml")
    return files + [props / "model" / f"{model}.yaml"]


def package_default_keys():
    """The keys of ``properties/overall.yaml``: how this package trains by default (batch size, optimiser,
    budget, evaluation)."""
    return tuple(yaml.safe_load((properties_dir() / "overall.yaml").read_text()))


_PARSED_YAML = {}  # a YAML file's text -> what RecBole's loader made of it


def parsed_yaml(text, loader):
    """``yaml.load(text, loader)``, parsed once per process; the caller gets its own copy."""
    if text not in _PARSED_YAML:
        _PARSED_YAML[text] = yaml.load(text, Loader=loader)
    return copy.deepcopy(_PARSED_YAML[text])


def recbole_dataset_yaml(dataset):
    """RecBole's own ``properties/dataset/<dataset>.yaml`` (it exists for a few hub datasets)."""
    return Path(recbole.config.__file__).resolve().parent.parent / "properties" / "dataset" / f"{dataset}.yaml"


class Config(RecBoleConfig):
    """RecBole's Config, plus:

    * model names resolve through :func:`recbole_rd.model.registry.get_model`
      (``recbole.Caser`` selects RecBole's own Caser);
    * for this plugin's models (not those marked ``configured_as_recbole``: RecBole's own, repaired),
      ``properties/overall.yaml`` and
      ``properties/model/<Model>.yaml`` are loaded after RecBole's defaults
      (a distilled student loads ``properties/distill.yaml`` and its base model's file
      first; a model class may list its files in ``properties_files`` instead, as the
      students of RecBole models do: the model's RecBole YAML, then ``RecBoleStudent.yaml``);
    * ``properties/dataset/<dataset>.yaml`` is loaded for every model; a dataset described by no
      YAML (ours or RecBole's), a user's own, loads every column of its files (``load_col: ~``)
      unless ``load_col`` is given, and is not filtered (:data:`OWN_DATA_NOTE`);
    * a model class with a ``complete_config(final, external)`` class method fills in
      derived keys (a RecBole model's student: its width from ``teacher_embedding_size``);
    * the numeric keys of :data:`recbole_rd.config_values.VALUE_RULES` are checked (type and range);
    * sequential models with ``loss_type: CE`` get ``train_neg_sample_args: ~``
      unless it is set explicitly (RecBole would refuse the combination);
    * ``MAX_ITEM_LIST_LENGTH`` follows the window ``L`` of this plugin's window models
      (Caser, Fossil and their students) unless set explicitly; other models keep
      RecBole's ``MAX_ITEM_LIST_LENGTH`` (default 50) whatever ``L`` says;
    * in DDP mode (``local_rank`` set by the launcher) the process-group backend is
      ``dist_backend`` (``auto``: nccl on CUDA, gloo on CPU; RecBole hard-codes nccl);
    * each YAML file is parsed once per process (a comparison or a search builds hundreds of configs);
    * ``reads_command_line=False``: ``sys.argv`` is not read (the command line's settings, if any,
      came in ``config_dict``: see :func:`config_beside`).
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, reads_command_line=True):
        self.reads_command_line = reads_command_line
        super().__init__(model, dataset, config_file_list, config_dict)

    def _load_cmd_line(self):
        return super()._load_cmd_line() if self.reads_command_line else {}

    def _get_model_and_dataset(self, model, dataset):
        if isinstance(model, str) or model is None:
            name = model if model is not None else self.external_config_dict.get("model")
            if name is None:
                raise ConfigError("model must be given: --model=NAME, a config file or config_dict")
            model = get_model(name)
        return super()._get_model_and_dataset(model, dataset)

    def _update_internal_config_dict(self, file):
        """RecBole's, each file's text parsed once per process (every config reads 5-8 YAML files, 10-20 ms
        in all; a comparison or a search builds hundreds of configs)."""
        config_dict = parsed_yaml(Path(file).read_text(encoding="utf-8"), self.yaml_loader)
        if config_dict is not None:
            self.internal_config_dict.update(config_dict)
        return config_dict

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        props = properties_dir()
        files = []
        if is_plugin_model(model_class) and not vars(model_class).get("configured_as_recbole"):  # not inherited
            files.append(props / "overall.yaml")
            files += model_properties_files(model_class, model, props)
        files.append(props / "dataset" / f"{dataset}.yaml")
        self.dataset_described = any(path.is_file() for path in (files[-1], recbole_dataset_yaml(dataset)))
        for file in files:
            if os.path.isfile(file):
                loaded = self._update_internal_config_dict(file) or {}
                if file.parent.name == "dataset":
                    self.parameters["Dataset"] += [
                        k for k in loaded if k not in self.parameters["Dataset"]
                    ]

    def _get_final_config_dict(self):
        final = super()._get_final_config_dict()
        check_values(final)
        if not self.dataset_described and "load_col" not in self.external_config_dict:
            final["load_col"] = None  # a user's own dataset: every column of its header (RecBole's meaning of ~)
        if (str(final.get("loss_type")).upper() == "CE" and final["MODEL_TYPE"] == ModelType.SEQUENTIAL
                and "train_neg_sample_args" not in self.external_config_dict):
            final["train_neg_sample_args"] = None  # RecBole refuses CE with sampled negatives
        complete = getattr(self.model_class, "complete_config", None)
        if complete is not None:
            complete(final, self.external_config_dict)
        if (final.get("L") is not None and issubclass(self.model_class, WindowRecommender)
                and "MAX_ITEM_LIST_LENGTH" not in self.external_config_dict):
            final["MAX_ITEM_LIST_LENGTH"] = int(final["L"])
        return final

    def _init_device(self):
        final = self.final_config_dict
        if "local_rank" not in final:
            return super()._init_device()
        gpu_id = final["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
        final["gpu_id"] = gpu_id
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu_id
        local_rank, nproc = final["local_rank"], final.get("nproc") or 1
        cuda = len(gpu_id) > 0 and torch.cuda.is_available()
        backend = distributed.choose_backend(final.get("dist_backend"), cuda)
        if cuda and len(gpu_id.split(",")) < nproc:
            raise ConfigError(f"gpu_id: '{gpu_id}' lists fewer GPUs than nproc={nproc}; give one GPU per "
                              f"process (e.g. --gpu_id=0,1) or set --gpu_id='' to run on CPU with gloo")
        if cuda:
            torch.cuda.set_device(local_rank)
        else:  # CPU processes share this node's cores instead of each taking all of them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
        ip, port = final.get("ip") or "localhost", final.get("port") or 5678
        try:
            distributed.init_process_group(backend, local_rank + (final.get("offset") or 0),
                                           final.get("world_size") or nproc, ip, port)
        except distributed.dist.DistNetworkError as err:  # e.g. the port is taken, the address unknown
            reason = str(err).splitlines()[0]
            raise ConfigError(f"port: the DDP process group could not meet at {ip}:{port} ({reason}); pass a "
                              f"free port with --port (e.g. --port=29500), and as --ip the rank-0 node's "
                              f"address") from None
        final["device"] = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
        final["single_spec"] = False
        if local_rank != 0:  # as RecBole: only rank 0 logs and shows progress
            final.update(state="error", show_progress=False, verbose=False)


def user_settings(config):
    """What the user set for ``config`` (its files, ``config_dict`` and command line, as RecBole merged
    them), less ``model``, ``dataset`` and the per-row keys of a comparison (``<row>.<key>``)."""
    return {k: v for k, v in config.external_config_dict.items() if k not in ("model", "dataset") and "." not in k}


def config_beside(config, model, settings=None, shared_keys=()):
    """A :class:`Config` of ``model`` (a name or class) on ``config``'s dataset, resolved by RecBole like any
    user config: ``model``'s own properties, the user's settings of ``config`` (:func:`user_settings`;
    ``data_path`` as given), ``config``'s values at ``shared_keys``, then ``settings``. The command line is
    not read again: its settings are among the user's."""
    shared = {k: config[k] for k in shared_keys if k in config.final_config_dict and k != "data_path"}
    return Config(model, config["dataset"], config_dict={**user_settings(config), **shared, **(settings or {})},
                  reads_command_line=False)
