"""RecBole's Trainer with checkpoints that load safely (``weights_only``) and exact resume."""

import torch
from recbole.trainer import Trainer
from recbole.trainer.trainer import AbstractTrainer
from torch import optim
from torch.nn.parallel import DistributedDataParallel

from recbole_rd import distributed
from recbole_rd.checkpoint import dataset_fingerprint, load_checkpoint, load_weights, save_checkpoint
from recbole_rd.data.period import PeriodEvalData
from recbole_rd.evaluator.period import period_averages, period_user_values
from recbole_rd.evaluator.recbole_per_user import KeepingEvaluator

LAST_SUFFIX = ".last"


class SafeCheckpointMixin:
    """Checkpoint handling for any RecBole ``Trainer`` subclass: tensors and plain data only.

    RecBole pickles its whole ``Config`` into checkpoints, which ``torch.load``
    refuses since torch 2.6; this trainer saves the model's hyper-parameters and
    a dataset fingerprint instead, and reloads with ``weights_only=True``.

    Besides the best model (``saved_model_file``), the state after every evaluated
    epoch goes to ``saved_model_file + '.last'`` (weights, optimizer, early-stopping
    counters, random-number states): :meth:`resume_checkpoint` on it continues the
    run exactly as if it had not been interrupted.
    """

    dataset_fp = None
    _pending_rng = None  # (torch, loader) states restored when fit starts
    _kept_users = None  # while evaluate_with_users runs: where evaluate puts each user's values

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.dataset_fp = dataset_fingerprint(train_data._dataset)
        if self._pending_rng is not None:
            torch.set_rng_state(self._pending_rng[0])
            train_data.generator.set_state(self._pending_rng[1])
            self._pending_rng = None

        def after_validation(epoch_idx, valid_score):
            if saved:
                self._save_last(epoch_idx, train_data)
            if callback_fn:
                callback_fn(epoch_idx, valid_score)

        return super().fit(train_data, valid_data, verbose, saved, show_progress, after_validation)

    def _is_writer(self):
        """Global rank 0 writes (as the top-K cache): on several nodes each node's local rank 0
        would otherwise write the same shared files."""
        return distributed.rank() == 0

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self._is_writer():
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        save_checkpoint(path, self.model, self.config, self.dataset_fp, **self._training_state(epoch))
        if verbose:  # every improvement: DEBUG, so that a run's log is not one line per epoch
            self.logger.debug(f"Saving current: {path}")

    def _training_state(self, epoch):
        return {"epoch": epoch, "cur_step": self.cur_step, "best_valid_score": float(self.best_valid_score),
                "optimizer": self.optimizer.state_dict()}

    def _save_last(self, epoch, train_data):
        if not self._is_writer():
            return
        best = None if self.best_valid_result is None else {k: float(v) for k, v in self.best_valid_result.items()}
        save_checkpoint(self.saved_model_file + LAST_SUFFIX, self.model, self.config, self.dataset_fp,
                        **self._training_state(epoch), best_valid_result=best, best_model_file=self.saved_model_file,
                        torch_rng=torch.get_rng_state(), loader_rng=train_data.generator.get_state())

    def load_model(self, path):
        """Load weights saved by this trainer into the model; return the checkpoint."""
        state = load_checkpoint(path, map_location=self.device)
        load_weights(self.model, state, path)
        return state

    def resume_checkpoint(self, resume_file):
        """Continue from a checkpoint; a ``.last`` file also restores the random states."""
        state = self.load_model(resume_file)
        self.saved_model_file = state.get("best_model_file") or str(resume_file)
        self.start_epoch = state["epoch"] + 1
        self.cur_step = state["cur_step"]
        self.best_valid_score = state["best_valid_score"]
        self.best_valid_result = state.get("best_valid_result")
        self.optimizer.load_state_dict(state["optimizer"])
        if "torch_rng" in state:
            self._pending_rng = (state["torch_rng"].cpu(), state["loader_rng"].cpu())
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model and eval_data:
            distributed.barrier()  # rank 0 may still be writing the file
            path = model_file or self.saved_model_file
            self.load_model(path)
            self.logger.info(f"Loading model parameters from {path}")
        if isinstance(eval_data, PeriodEvalData):
            values = period_user_values(eval_data, self.model, self.device)
            if self._kept_users is not None:
                self._kept_users.update(values)
            return period_averages(values, eval_data)
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)

    def evaluate_with_users(self, eval_data, load_best_model=True, show_progress=False):
        """``(result, per_user)`` from one pass over ``eval_data``: :meth:`evaluate`'s result, and each user's
        value of every top-k metric (``{metric: tensor}``, in the loader's user order, the same for every
        model tested on it; under RecBole's protocol from RecBole's own metric classes)."""
        evaluator, self._kept_users = self.evaluator, {}
        self.evaluator = KeepingEvaluator(evaluator, self._kept_users)
        try:
            result = self.evaluate(eval_data, load_best_model, show_progress=show_progress)
            return result, self._kept_users
        finally:
            self.evaluator, self._kept_users = evaluator, None


class DeviceAwareDDP(AbstractTrainer):
    """RecBole's DDP wrapping, which also works on CPU (gloo): RecBole passes
    ``device_ids``, which torch accepts for CUDA modules only. Placed after a
    RecBole trainer in the bases, it replaces ``AbstractTrainer.__init__``."""

    def __init__(self, config, model):
        self.config = config
        self.model = model
        if not config["single_spec"]:
            cuda = config["device"].type == "cuda"
            if cuda:
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self.distributed_model = DistributedDataParallel(
                self.model, device_ids=[config["local_rank"]] if cuda else None)


class FusedAdamMixin:
    """With ``fused_optimizer: True``, RecBole's Adam and AdamW fused into one kernel per step
    where torch supports it (floating-point parameters on CPU or CUDA): the same update,
    measured 2.5-4x faster per step on CPU. Off by default: on CPU the fused kernel's
    rounding depends on memory alignment, so two processes with the same seed can end with
    different weights (measured: 2 of 8 runs differed), and the same seed must give the same
    model."""

    def _build_optimizer(self, **kwargs):
        optimizer = super()._build_optimizer(**kwargs)
        if not self.config["fused_optimizer"] or type(optimizer) not in (optim.Adam, optim.AdamW) or len(optimizer.param_groups) != 1:
            return optimizer
        group = optimizer.param_groups[0]
        try:
            return type(optimizer)(group["params"], lr=group["lr"], weight_decay=group["weight_decay"], fused=True)
        except RuntimeError:  # parameters torch cannot fuse (device or dtype): keep the loop
            return optimizer


def _safe_bases(recbole_trainer):
    """Our mixins around a RecBole trainer; ``DeviceAwareDDP`` after it (see its docstring)."""
    return SafeCheckpointMixin, FusedAdamMixin, recbole_trainer, DeviceAwareDDP


class SafeTrainer(*_safe_bases(Trainer)):
    """RecBole's ``Trainer`` with safe checkpoints (see :class:`SafeCheckpointMixin`) and
    fused Adam (:class:`FusedAdamMixin`), that also runs in DDP mode on CPU."""


def safe_trainer_class(recbole_trainer):
    """``recbole_trainer`` with safe checkpoints, when it is a RecBole ``Trainer``."""
    if recbole_trainer is Trainer:
        return SafeTrainer
    if issubclass(recbole_trainer, Trainer):
        return type(f"Safe{recbole_trainer.__name__}", _safe_bases(recbole_trainer), {})
    return recbole_trainer
