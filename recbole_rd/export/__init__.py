"""A trained model as a self-contained scorer you can serve: ``python -m recbole_rd.export <checkpoint>.pth
--format=onnx`` (or ``torchscript``) writes a folder that needs only onnxruntime (or only torch) to run:

* ``model.onnx`` / ``model.pt``: :class:`~recbole_rd.export.scorer.TopKScorer`, inputs ``user``,
  ``item_seq``, ``item_seq_len``, ``exclude`` (int64 indices), outputs ``scores`` and ``items`` (top-k);
* ``items.json`` and ``users.json``: the original tokens of the indices (index i is entry i; JSON, never a
  pickle); ``contract.json``: shapes, k, the window length, the checkpoint's sha256;
* ``README.md``: the input/output contract and a few lines of Python that run it.

Caser, CaserRD and RecBole's sequential models and their students export; Fossil is refused with the
reason (:data:`~recbole_rd.export.scorer.NOT_EXPORTABLE`).
"""

from recbole_rd.export.folder import export_model

__all__ = ["export_model"]
