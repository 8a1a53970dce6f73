"""This package's errors: problems of the user's input, reported by the command line as one
``error:`` line with exit status 2. The ground layer: imports nothing of the package."""


class RecBoleRDError(Exception):
    """Base of this package's own errors: a problem of the user's input (config, data,
    checkpoint), reported by the command line as one ``error:`` line with exit status 2."""


class ConfigError(RecBoleRDError, ValueError):
    """A configuration value is invalid; the message names the key and the allowed values."""


class TrainingDiverged(ConfigError):
    """The training loss became NaN under these settings (e.g. a learning rate too large)."""


class DatasetError(RecBoleRDError, ValueError):
    """The dataset is missing or malformed; the message says how to fix it."""


class CheckpointError(RecBoleRDError, RuntimeError):
    """A checkpoint is missing, unsafe, corrupt, or made for other data."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped a run; ``resume_flags`` are the command-line flags that continue
    it (e.g. ``{'resume_from': 'saved/X.pth.last'}``), empty when nothing was kept to resume from."""

    def __init__(self, resume_flags=None, what=""):
        super().__init__(what)
        self.resume_flags = dict(resume_flags or {})
        self.what = what
