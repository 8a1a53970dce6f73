"""A trained model as a self-contained scorer you can serve: ``python -m recbole_rd.export <checkpoint>.pth
--format=onnx`` (or ``torchscript``) writes a folder that needs only numpy and onnxruntime (or torch) to run:

* ``model.onnx`` / ``model.pt``: :class:`~recbole_rd.export.scorer.TopKScorer`, int64 inputs ``user``,
  ``item_seq``, ``item_seq_len``, ``history``, ``exclude``; outputs ``scores`` and ``items`` (top-k);
* ``items.json`` and ``users.json``: the original tokens of the indices (index i is entry i; JSON, never a
  pickle); ``contract.json``: shapes, k, the window length, the checkpoint's sha256;
* ``README.md``: the input/output contract and a few lines of Python that run it; ``serve.py``
  (:mod:`recbole_rd.export.serve`, copied): item tokens in, item tokens out.

Caser, Fossil, their students and RecBole's sequential models and students (SASRec, GRU4Rec, NARM, STAMP, ...)
export; a model whose written graph does not give its own scores on a fresh batch is refused with the reason.
"""

from recbole_rd.export.folder import export_model

__all__ = ["export_model"]
