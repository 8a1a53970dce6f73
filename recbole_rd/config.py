"""RecBole ``Config`` that resolves this plugin's models and loads its properties."""

import os

from recbole.config import Config as RecBoleConfig
from recbole.utils import ModelType

from recbole_rd.utils import get_model, is_plugin_model, properties_dir


class Config(RecBoleConfig):
    """RecBole's Config, plus:

    * model names resolve through :func:`recbole_rd.utils.get_model`
      (``recbole.Caser`` selects RecBole's own Caser);
    * for this plugin's models, ``properties/overall.yaml`` and
      ``properties/model/<Model>.yaml`` are loaded after RecBole's defaults
      (a distilled student loads its base model's file first);
    * ``properties/dataset/<dataset>.yaml`` is loaded for every model;
    * sequential models with ``loss_type: CE`` get ``train_neg_sample_args: ~``
      unless it is set explicitly (RecBole would refuse the combination);
    * ``MAX_ITEM_LIST_LENGTH`` follows the model's window ``L`` unless set explicitly.
    """

    def _get_model_and_dataset(self, model, dataset):
        if isinstance(model, str) or model is None:
            name = model if model is not None else self.external_config_dict.get("model")
            if name is None:
                raise KeyError("model must be given: --model=NAME, a config file or config_dict")
            model = get_model(name)
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        props = properties_dir()
        files = []
        if is_plugin_model(model_class):
            files.append(props / "overall.yaml")
            base = getattr(model_class, "teacher_model", None)
            if base:
                files.append(props / "model" / f"{base}.yaml")
            files.append(props / "model" / f"{model}.yaml")
        files.append(props / "dataset" / f"{dataset}.yaml")
        for file in files:
            if os.path.isfile(file):
                loaded = self._update_internal_config_dict(file) or {}
                if file.parent.name == "dataset":
                    self.parameters["Dataset"] += [
                        k for k in loaded if k not in self.parameters["Dataset"]
                    ]

    def _get_final_config_dict(self):
        final = super()._get_final_config_dict()
        if (str(final.get("loss_type")).upper() == "CE" and final["MODEL_TYPE"] == ModelType.SEQUENTIAL
                and "train_neg_sample_args" not in self.external_config_dict):
            final["train_neg_sample_args"] = None  # RecBole refuses CE with sampled negatives
        if final.get("L") is not None and "MAX_ITEM_LIST_LENGTH" not in self.external_config_dict:
            final["MAX_ITEM_LIST_LENGTH"] = int(final["L"])
        return final
