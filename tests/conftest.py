import sys
from contextlib import contextmanager

import pytest
import torch

from recbole_rd.data.sample import generate_checkins, write_atomic_inter

TINY = dict(n_users=60, n_items=90, min_len=8, max_len=20, seed=7)


def tiny_config_dict(tmp_path, **overrides):
    """RecBole settings for a tiny generated dataset under ``tmp_path``."""
    config = {
        "data_path": str(tmp_path / "dataset"),
        "checkpoint_dir": str(tmp_path / "saved"),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "epochs": 2,
        "show_progress": False,
        "state": "WARNING",
        "train_batch_size": 64,
        "eval_batch_size": 256,
        "gpu_id": "",
        "use_gpu": False,
    }
    config.update(overrides)
    return config


def write_tiny(tmp_path, name="tiny", **kwargs):
    path = tmp_path / "dataset" / name / f"{name}.inter"
    write_atomic_inter(path, *generate_checkins(**{**TINY, **kwargs}))
    return path


@contextmanager
def module_tiny(tmp_path_factory, name):
    """For module-scoped fixtures: a new folder ``name`` with the tiny data, ``sys.argv`` kept
    plain while the block runs (the autouse ``plain_argv`` is function-scoped)."""
    tmp = tmp_path_factory.mktemp(name)
    write_tiny(tmp)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["pytest"])
        yield tmp


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    """RecBole's Config reads sys.argv: keep pytest's own flags out of it."""
    monkeypatch.setattr(sys, "argv", ["pytest"])


@pytest.fixture
def tiny(tmp_path):
    write_tiny(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_data(tiny):
    """(config, train, valid, test) for Caser on the tiny dataset."""
    from recbole_rd.quick_start import prepare

    return prepare("Caser", "tiny", config_dict=tiny_config_dict(tiny))


class CountingTeacher(torch.nn.Module):
    """A stand-in teacher: scores item i as ``i * scale`` (the top items are the largest ids)
    and counts its ``full_sort_predict`` calls."""

    POS_ITEM_ID = "item_id"

    def __init__(self, n_items, scale=1.0):
        super().__init__()
        self.n_items, self.scale, self.calls = n_items, scale, 0

    def full_sort_predict(self, interaction):
        self.calls += 1
        return torch.arange(self.n_items, dtype=torch.float).repeat(len(interaction), 1) * self.scale


def config_with(config, model=None, **settings):
    """A fresh config beside ``config`` (its model, or ``model``) with ``settings``, resolved by RecBole."""
    from recbole_rd.config import config_beside

    return config_beside(config, model or config.model_class, settings)
