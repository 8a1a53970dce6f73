"""Distillation inside RecBole's training loop: one trainer for every distillation method."""

from logging import getLogger

import torch
from recbole.data.interaction import Interaction

from recbole_rd.distill.base import build_method
from recbole_rd.distill.rankings_file import file_teacher_ranking, file_user_ranking
from recbole_rd.distill.teacher import INSTANCE_ID, load_teacher
from recbole_rd.distill.topk_cache import teacher_ranking_cached
from recbole_rd.distill.user_teacher import ranks_users, user_teacher_ranking_cached
from recbole_rd.model.registry import get_model
from recbole_rd.trainer.trainer import SafeTrainer
from recbole_rd.utils import ConfigError, size_key

STUDENT_INTERFACE = ("ranking_loss_and_scores", "full_sort_predict", "n_items")


class DistillTrainer(SafeTrainer):
    """Trains a student with ``L = L_R + weighted L_D`` of the method ``distill_method``
    (``rd`` | ``cd`` | ``rrd`` | ``dcd``, see :mod:`recbole_rd.distill`) from a frozen teacher.

    The teacher comes from ``teacher_checkpoint`` (any RecBole sequential model saved by
    recbole_rd, trained on the same dataset; for a general student, any general model). The top-N it
    ranks for every training instance (for a general student: for every user, the user's training
    items left out, see :mod:`recbole_rd.distill.user_teacher`), and its scores where the method
    needs them, is computed once, in chunks, and cached under ``topk_cache_dir`` (default
    ``checkpoint_dir``). Every method's own keys are documented in its module. Everything else is RecBole's Trainer.

    Per epoch it logs each loss part of the method (per-batch means) and the method's
    figures (RD: the mean weight sum), to the log, TensorBoard and Weights & Biases.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        missing = [name for name in STUDENT_INTERFACE if not hasattr(model, name)]
        if missing:
            raise ConfigError(f"model: {type(model).__name__} cannot be a distilled student (it lacks "
                              f"{', '.join(missing)}); use a student model: CaserRD, FossilRD or a RecBole "
                              f"sequential or general model with the suffix RD (SASRecRD, BPRRD, ...)")
        self.method = build_method(config, model.n_items, getattr(model, "ranking_room", None)).to(self.device)
        self.teacher = self.teacher_ranking = None

    def prepare_teacher(self, train_data):
        """Load the teacher, compute or reuse its top-N, and tag training rows with their index
        (``teacher_rankings``: the top-N is read from that file, no teacher model is loaded)."""
        dataset = train_data._dataset
        path = self.config["teacher_checkpoint"]
        if self.config["teacher_rankings"]:
            if ranks_users(self.config):
                ranking = file_user_ranking(self.config, dataset, self.method.teacher_need())
            else:
                ranking, _ = file_teacher_ranking(self.config, dataset, self.method.teacher_need())
        else:
            if not path:
                raise ConfigError("teacher_checkpoint: no teacher given; pass --teacher_checkpoint=PATH "
                                  "or run through run_recbole_rd, which trains the teacher first")
            self.teacher, state = load_teacher(self.config, dataset, path)
            warn_if_narrower(state, self.model, self.config, path)
            cache_dir = self.config["topk_cache_dir"] or self.config["checkpoint_dir"]
            rank_teacher = user_teacher_ranking_cached if ranks_users(self.config) else teacher_ranking_cached
            ranking, _ = rank_teacher(self.teacher, path, dataset, self.method.teacher_need(), self.device,
                                      cache_dir, show_progress=bool(self.config["show_progress"]))
        self.teacher_ranking = ranking.to(self.device)
        if not ranking.per_user and INSTANCE_ID not in dataset.inter_feat:
            dataset.inter_feat.update(Interaction({INSTANCE_ID: torch.arange(len(dataset))}))

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        if self.teacher_ranking is None:
            self.prepare_teacher(train_data)
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        self.method.start_epoch(epoch_idx, self.model, train_data._dataset, self.teacher_ranking)
        losses = super()._train_epoch(train_data, epoch_idx, self.distillation_loss, show_progress)
        self.log_distillation(epoch_idx, losses, len(train_data))
        return losses

    def distillation_loss(self, interaction):
        """The method's loss parts of one batch; RecBole sums and logs them."""
        return self.method.loss(self.model, interaction, self.teacher_ranking)

    def log_distillation(self, epoch_idx, losses, batches):
        """Each loss part (per-batch mean) and the method's figures of the epoch, to the log,
        TensorBoard (``Distill/<name>``) and Weights & Biases (``train/distill/<name>``)."""
        figures = {name: total / max(1, batches) for name, total in zip(self.method.part_names, losses)}
        figures.update(self.method.epoch_stats())
        self.logger.info(f"epoch {epoch_idx} distillation ({self.method.epoch_label()}): "
                         + ", ".join(f"{name}={value:.4f}" for name, value in figures.items()))
        for name, value in figures.items():
            self.tensorboard.add_scalar(f"Distill/{name}", value, epoch_idx)
        self.wandblogger.log_metrics({**{f"distill/{name}": value for name, value in figures.items()},
                                      "train_step": epoch_idx}, head="train")


def warn_if_narrower(teacher_state, student, config, path):
    """Warn when the teacher in ``teacher_state`` is narrower than ``student`` (both read the same
    width key: e.g. a d=20 teacher for a d=50 student); distillation assumes a larger teacher."""
    hyper = teacher_state["hyper_parameters"]
    key = size_key(type(getattr(student, "module", student)), config)  # the model inside DDP
    if key is None or size_key(get_model(teacher_state["model"]), hyper) != key:
        return
    teacher_width, student_width = hyper[key], config[key]
    if teacher_width < student_width:
        getLogger().warning(f"the teacher {path} is narrower than the student ({key} {teacher_width} < "
                            f"{student_width}): distillation expects a larger teacher; check teacher_embedding_size "
                            f"or teacher_checkpoint")

