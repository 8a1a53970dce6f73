"""RecBole's Trainer with checkpoints that load safely (``weights_only``)."""

from recbole.trainer import Trainer

from recbole_rd.data.paper_protocol import PeriodEvalData
from recbole_rd.checkpoint import dataset_fingerprint, load_checkpoint, load_weights, save_checkpoint


class SafeCheckpointMixin:
    """Checkpoint handling for any RecBole ``Trainer`` subclass: tensors and plain data only.

    RecBole pickles its whole ``Config`` into checkpoints, which ``torch.load``
    refuses since torch 2.6; this trainer saves the model's hyper-parameters and
    a dataset fingerprint instead, and reloads with ``weights_only=True``.
    """

    dataset_fp = None

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.dataset_fp = dataset_fingerprint(train_data._dataset)
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        if not self.config["single_spec"] and self.config["local_rank"] != 0:
            return
        path = kwargs.pop("saved_model_file", self.saved_model_file)
        save_checkpoint(
            path, self.model, self.config, self.dataset_fp,
            epoch=epoch, cur_step=self.cur_step, best_valid_score=float(self.best_valid_score),
            optimizer=self.optimizer.state_dict(),
        )
        if verbose:
            self.logger.info(f"Saving current: {path}")

    def load_model(self, path):
        """Load weights saved by this trainer into the model; return the checkpoint."""
        state = load_checkpoint(path, map_location=self.device)
        load_weights(self.model, state, path)
        return state

    def resume_checkpoint(self, resume_file):
        state = self.load_model(resume_file)
        self.saved_model_file = str(resume_file)
        self.start_epoch = state["epoch"] + 1
        self.cur_step = state["cur_step"]
        self.best_valid_score = state["best_valid_score"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model and eval_data:
            path = model_file or self.saved_model_file
            self.load_model(path)
            self.logger.info(f"Loading model parameters from {path}")
        if isinstance(eval_data, PeriodEvalData):
            return eval_data.evaluate(self.model, self.device)
        return super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)


class SafeTrainer(SafeCheckpointMixin, Trainer):
    """RecBole's ``Trainer`` with safe checkpoints (see :class:`SafeCheckpointMixin`)."""


def safe_trainer_class(recbole_trainer):
    """``recbole_trainer`` with safe checkpoints, when it is a RecBole ``Trainer``."""
    if recbole_trainer is Trainer:
        return SafeTrainer
    if issubclass(recbole_trainer, Trainer):
        return type(f"Safe{recbole_trainer.__name__}", (SafeCheckpointMixin, recbole_trainer), {})
    return recbole_trainer
