"""Finished rows of a ``--compare`` kept on disk, so that an interrupted or split comparison goes on.

After each row of each seed, ``<stem>-rows/seed<seed>-<label>.pt`` holds its result (a weights-only
torch file: numbers, text and tensors, nothing unpickled) and what decided it: the row's
configuration, the seed, the dataset's files, this package's code, the versions of torch, RecBole
and numpy, and for a distilled row the sha256 of its teacher's checkpoint. With ``resume`` a
record whose description matches is reused instead of training the row again (a teacher only while
its checkpoint still holds what it held); any other row is trained, and the log says what differed.
"""

import glob
import hashlib
import re
from logging import getLogger
from pathlib import Path

import torch

from recbole_rd.compare.provenance import package_versions, plain_data
from recbole_rd.compare.result import RowResult
from recbole_rd.distill.topk_cache import file_sha256
from recbole_rd.key_lists import UNDECIDING_KEYS
from recbole_rd.utils import atomic_write, properties_dir

FORMAT = "recbole-rd-row/1"
HASHED_PARTS = ("code", "data", "teacher")  # sha256 digests: named when they differ, not printed


def _hash_files(paths):
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.name}:{file_sha256(path)}".encode())
    return digest.hexdigest()


def is_override(key):
    """A per-row override (``Caser-RD.alpha``, ``model_overrides``): every row's config carries it, but
    only the rows it names apply it, and those rows' own keys show it."""
    return "." in key or key == "model_overrides"


def code_fingerprint():
    """sha256 of this package's Python sources and YAML properties."""
    package = Path(__file__).resolve().parents[1]
    return _hash_files(sorted([*package.rglob("*.py"), *Path(properties_dir()).rglob("*.yaml")]))


def data_fingerprint(config):
    """sha256 of the dataset's files: every ``<data_path>/<dataset>.*`` (atomic files, benchmark
    splits such as ``<dataset>.train.inter``, additional feature files)."""
    folder, name = Path(config["data_path"]), config["dataset"]
    return _hash_files(sorted(path for path in folder.glob(f"{glob.escape(name)}.*") if path.is_file()))


def differences(recorded, current, prefix=""):
    """What differs between two descriptions, e.g. ``['config.epochs: 20 -> 30', 'code']``."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        return [d for k in sorted(set(recorded) | set(current))
                for d in differences(recorded.get(k), current.get(k), f"{prefix}{k}.")]
    name = prefix.rstrip(".")
    if recorded == current:
        return []
    return [name] if name in HASHED_PARTS else [f"{name}: {recorded!r} -> {current!r}"]


class RowStore:
    """The finished rows of one comparison (``folder``), reused when ``resume`` is set."""

    def __init__(self, folder, config, resume=False):
        self.folder, self.resume = Path(folder), resume
        versions = package_versions()
        self.common = {"format": FORMAT, "code": code_fingerprint(), "data": data_fingerprint(config),
                       "versions": {k: str(versions[k]) for k in ("torch", "recbole", "numpy")}}

    def path(self, label, seed):
        return self.folder / f"seed{seed}-{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.pt"

    def describe(self, row, seed):
        """Everything that decides ``row``'s result for ``seed``."""
        config = {k: v for k, v in plain_data(dict(row.config.final_config_dict)).items()
                  if k not in UNDECIDING_KEYS and not is_override(k)}
        teacher = row.config["teacher_checkpoint"] if row.role == "distilled" else None
        return {**self.common, "seed": seed, "label": row.label, "role": row.role, "config": config,
                "teacher": file_sha256(teacher) if teacher else None}

    def save(self, described, result):
        """Keep ``result`` (a :class:`RowResult`) of the row ``described`` (:meth:`describe`, taken before
        it was trained; a teacher also with its checkpoint's sha256)."""
        record = plain_data({"described": described, "result": result.record()}, keep_tensors=True)
        if described["role"] == "teacher" and result.checkpoint:
            record["checkpoint_sha256"] = file_sha256(result.checkpoint)
        atomic_write(self.path(described["label"], described["seed"]), lambda f: torch.save(record, f))

    def reusable(self, described):
        """The kept :class:`RowResult` of the row ``described`` when ``resume`` is set and it still holds
        (``reused_from``: its file); else None."""
        label, path = described["label"], self.path(described["label"], described["seed"])
        if not (self.resume and path.is_file()):
            return None
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
            recorded, result = record["described"], RowResult.from_record(record["result"], str(path))
        except Exception:  # unreadable, or of another format: trained again, never trusted
            getLogger().warning(f"{path} is unreadable: training {label} again")
            return None
        changed = differences(recorded, described)
        checkpoint = result.checkpoint
        if not changed and described["role"] == "teacher":
            if not (checkpoint and Path(checkpoint).is_file()):
                changed = [f"its checkpoint {checkpoint} is gone"]
            elif file_sha256(checkpoint) != record.get("checkpoint_sha256"):
                changed = [f"its checkpoint {checkpoint} was overwritten"]
        if changed:
            getLogger().info(f"{path} was made with other settings ({'; '.join(changed[:5])}): "
                             f"training {label} again")
            return None
        return result
