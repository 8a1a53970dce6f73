"""What a comparison keeps of one row for one seed: :class:`RowResult`, made from a trained (or given)
model's test and never holding the model or its trainer; kept on disk by :mod:`recbole_rd.compare.row_store`."""

from dataclasses import dataclass, field, fields
from typing import Optional

NOT_TRAINED = "not trained here"  # the epochs of a teacher given by its checkpoint
SIDE_BY_SIDE, WHEN_TRAINED = "side by side", "when trained"  # how a row's top-10 time was measured
TIMING_ROUNDS = 3  # interleaved rounds of side-by-side top-10 timing (recbole_rd.compare.timing)


@dataclass
class RowResult:
    """One row's result for one seed.

    ``metrics``: test metric -> mean over the test users (full precision); ``per_user``: test metric ->
    tensor of each user's value (top-k metrics; None when there are none); ``epochs_run``: None for
    a teacher given by its checkpoint (not trained here); ``best_epoch``: 0-based; ``batch_size``: the
    training batch size; ``trained_with``: the keys that decided its training (:func:`trained_with_keys`);
    ``topk_seconds``: the time of the top-10 lists of every test user, ``time_measured``
    (:data:`SIDE_BY_SIDE` or :data:`WHEN_TRAINED`) saying how; ``reused_from``: the row store's record it
    was read from (``--resume``), None when trained in this run."""
    model: Optional[str] = None
    d: Optional[int] = None
    parameters: Optional[int] = None
    metrics: dict = field(default_factory=dict)
    per_user: Optional[dict] = None
    epochs_run: Optional[int] = None
    best_epoch: Optional[int] = None
    checkpoint: Optional[str] = None
    batch_size: Optional[int] = None
    trained_with: dict = field(default_factory=dict)
    topk_seconds: Optional[float] = None
    time_measured: str = WHEN_TRAINED
    reused_from: Optional[str] = None

    def record(self):
        """The fields as a dict (tensors kept as they are), for the row store."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "reused_from"}

    @classmethod
    def from_record(cls, record, reused_from=None):
        """The result :meth:`record` kept; a key it does not know makes a TypeError (a record of another
        format is never trusted)."""
        return cls(**record, reused_from=reused_from)
